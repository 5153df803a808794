package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// The promise lane. A licence freed behind a long queue goes to the session the ledger promised
// it to (see "Promises" in ledger.go) without waiting for the pool's pass: the pass that is
// running may be writing the ledger or a batch of grants, and a pass that starts after it
// decides on everything. The watch's news that a session has gone or ended wakes the pool's
// promise lane, which decides on the cache as a pass would and writes the grants whose promise
// is due, and nothing else; the pass that the same news starts writes the rest.
//
// A grant on a promise is written by whichever of the lane and a pass claims it first
// (poolMemory.claimPromised), so the two never race for the same session; and each rests on
// the promise and the session's own resourceVersion, never on the other's writes.

// promiseLane runs one pool's promised grants at a time, for every pool the watch wakes it for.
// (Runs of one pool side by side measured slower on two cores: each decides on the whole pool.)
type promiseLane struct {
	mu sync.Mutex
	// ctx is the manager's, once it has started the lane (nil before: nothing is granted).
	ctx context.Context
	// running: pools whose grants are being written, with a channel closed when the run
	// ends; again: pools woken meanwhile, to look at once more before it does.
	running map[types.NamespacedName]chan struct{}
	again   map[types.NamespacedName]bool
}

// Start gives the lane the manager's context. It is a manager Runnable that needs the
// leader's lease: only the leader grants.
func (l *promiseLane) Start(ctx context.Context) error {
	l.mu.Lock()
	l.ctx = ctx
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	l.ctx = nil
	l.mu.Unlock()
	return nil
}

// wakePromises asks for the pool's promised grants to be looked at, and runs them unless a run
// of the pool is under way (which then looks once more).
func (r *PoolReconciler) wakePromises(pool types.NamespacedName) {
	l := &r.promised
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		return
	}
	if l.running[pool] != nil {
		if l.again == nil {
			l.again = map[types.NamespacedName]bool{}
		}
		l.again[pool] = true
		return
	}
	if l.running == nil {
		l.running = map[types.NamespacedName]chan struct{}{}
	}
	l.running[pool] = make(chan struct{})
	go r.runPromises(l.ctx, pool)
}

// awaitPromises waits, at most max, for a run of the pool's promise lane to end. A pass that
// the same news started then decides on the grants the lane wrote, and sends its own writes
// (the ledger, when it cannot wait) after them, not beside them.
func (l *promiseLane) awaitPromises(ctx context.Context, pool types.NamespacedName, max time.Duration) {
	l.mu.Lock()
	done := l.running[pool]
	l.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// runPromises writes the pool's due grants until no news came in meanwhile.
func (r *PoolReconciler) runPromises(ctx context.Context, pool types.NamespacedName) {
	l := &r.promised
	for {
		r.grantPromised(ctx, pool)
		l.mu.Lock()
		if !l.again[pool] {
			close(l.running[pool])
			delete(l.running, pool)
			l.mu.Unlock()
			return
		}
		delete(l.again, pool)
		l.mu.Unlock()
	}
}

// grantPromised decides on the cache as a pass does and writes only the grants on a promise
// that is due. Whatever it cannot do at once (the cache is behind, a fresh read is wanted, the
// slow lane is writing the session) it leaves to the pool's pass.
func (r *PoolReconciler) grantPromised(ctx context.Context, pool types.NamespacedName) {
	defer func() {
		if p := recover(); p != nil {
			log.FromContext(ctx).Error(fmt.Errorf("%v", p), "the promise lane stopped on a panic; the pool's pass grants instead", "pool", pool.String())
		}
	}()
	r.memory.grantsStart(pool)
	moved := false
	defer func() { r.memory.grantsEnd(pool, moved, r.Clock.Now()) }()
	var snap *snapshot
	for try := 0; ; try++ {
		s, wait, err := r.snapshot(ctx, pool)
		if err != nil || wait > 0 || s.pool == nil || len(s.promises.due) == 0 {
			return
		}
		if !writingAny(s.writing, s.promises.due) || try == laneAnswerTries {
			snap = s
			break
		}
		// The slow lane is writing a session whose promise is due: its answer is a few
		// milliseconds away, and the grant goes from it.
		time.Sleep(laneAnswerWait)
	}
	now := r.Clock.Now()
	res := snap.decide(now)
	if res.NeedsFreshRead {
		return
	}
	fast, err := planPromised(snap, res, now, r.memory.waitsOf(snap.sessions))
	if err != nil {
		return
	}
	var ws []statusWrite
	for _, w := range fast {
		if !snap.writing[w.orig.GetUID()] {
			ws = append(ws, w)
		}
	}
	moved = len(ws) > 0
	if err := r.writePromised(ctx, snap, ws); err != nil {
		// The pass the same news started decides again, on the newer state.
		log.FromContext(ctx).V(1).Info("a grant on a promise did not land", "pool", pool.String(), "error", err.Error())
	}
}

// writePromised writes the grants on a promise that neither the lane nor a pass is writing
// already, and counts those that landed, even when another failed.
func (r *PoolReconciler) writePromised(ctx context.Context, snap *snapshot, ws []statusWrite) error {
	ws = r.memory.claimPromised(ws)
	defer r.memory.unclaimPromised(ws)
	if len(ws) == 0 {
		return nil
	}
	landed, err := r.sendClaimants(ctx, ws)
	// Their Events wait for the pool's next status write, which records these grants in the
	// ledger: one Event for the grants made since, not one per grant (each is a write too).
	notes := notesOf(landed)
	countTransitions(notes)
	r.memory.holdNotes(snap.key, notes)
	metrics.PromisedGrants.WithLabelValues(snap.key.Namespace, snap.key.Name).Add(float64(len(landed)))
	return err
}

// laneAnswerTries and laneAnswerWait bound how long the promise lane waits for the slow lane's
// answer to a write to a session whose promise is due, before it leaves the grant to the pass.
const (
	laneAnswerTries = 20
	laneAnswerWait  = time.Millisecond
)

// promiseRunWait bounds how long a pass waits for a run of the promise lane to end: a run
// writes one grant or a few, one round trip.
const promiseRunWait = 50 * time.Millisecond

func writingAny(writing, due map[types.UID]bool) bool {
	for uid := range due {
		if writing[uid] {
			return true
		}
	}
	return false
}

// freedPredicate wakes the pool's promise lane when the watch reports a session gone or ended:
// a licence it held may be promised. It lets every event through.
func (r *PoolReconciler) freedPredicate() predicate.Predicate {
	wake := func(o client.Object) {
		if s, ok := o.(*v1alpha1.SharedSession); ok {
			r.wakePromises(types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.PoolName})
		}
	}
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if s, ok := e.ObjectNew.(*v1alpha1.SharedSession); ok && s.Status.Phase == v1alpha1.SessionEnded {
				if old, ok := e.ObjectOld.(*v1alpha1.SharedSession); ok && old.Status.Phase != v1alpha1.SessionEnded {
					wake(s)
				}
			}
			return true
		},
		DeleteFunc: func(e event.DeleteEvent) bool {
			wake(e.Object)
			return true
		},
	}
}
