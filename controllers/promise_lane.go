package controllers

import (
	"context"
	"fmt"
	"runtime"
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

// promiseLane decides on one pool's promised grants at a time, for every pool the watch wakes it
// for, and lets each decision's grants go while it makes the next: two licences freed a few
// milliseconds apart go to their promised sessions side by side, the second not behind the
// first's round trip. (Decisions of one pool side by side measured slower on two cores: each
// decides on the whole pool.)
type promiseLane struct {
	mu sync.Mutex
	// ctx is the manager's, once it has started the lane (nil before: nothing is granted).
	ctx context.Context
	// running: pools with a run under way.
	running map[types.NamespacedName]*promiseRun
}

// promiseRun is one pool's run of the promise lane: a decision under way, or grants it sent
// and has not had the answer to.
type promiseRun struct {
	// done is closed when the run ends: no decision under way and no grant in flight.
	done chan struct{}
	// deciding: a decision is under way; again: the pool was woken since that decision began
	// to read the cache, and is looked at once more before the run ends. (News that came
	// before the read is in the cache it read: the informer stores an event before it calls
	// the handlers that wake the lane.)
	deciding bool
	again    bool
	// sending: the decisions whose grants are in flight (each sends its grants as one batch).
	sending int
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

// wakePromises asks for the pool's promised grants to be looked at, and decides on them unless
// a decision of the pool is under way (which then looks once more).
func (r *PoolReconciler) wakePromises(pool types.NamespacedName) {
	l := &r.promised
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		return
	}
	run := l.running[pool]
	switch {
	case run == nil:
		if l.running == nil {
			l.running = map[types.NamespacedName]*promiseRun{}
		}
		run = &promiseRun{done: make(chan struct{})}
		l.running[pool] = run
	case run.deciding:
		run.again = true
		return
	}
	run.deciding = true
	go r.runPromises(l.ctx, pool, run)
}

// awaitPromises waits, at most max, for a run of the pool's promise lane to end. A pass that
// the same news started then decides on the grants the lane wrote, and sends its own writes
// (the ledger, when it cannot wait) after them, not beside them.
func (l *promiseLane) awaitPromises(ctx context.Context, pool types.NamespacedName, max time.Duration) {
	l.mu.Lock()
	var done chan struct{}
	if run := l.running[pool]; run != nil {
		done = run.done
	}
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

// runPromises decides on the pool's due grants until no news came in meanwhile.
func (r *PoolReconciler) runPromises(ctx context.Context, pool types.NamespacedName, run *promiseRun) {
	l := &r.promised
	for {
		r.grantPromised(ctx, pool, run)
		l.mu.Lock()
		if !run.again {
			run.deciding = false
			l.endLocked(pool, run)
			l.mu.Unlock()
			return
		}
		run.again = false
		l.mu.Unlock()
	}
}

// reading tells the run that its decision reads the cache now: news that wakes the pool from
// here on asks for one more look.
func (l *promiseLane) reading(run *promiseRun) {
	l.mu.Lock()
	run.again = false
	l.mu.Unlock()
}

// sent counts a run's batches of grants in flight up (by n, n > 0) or down (n < 0), and ends
// the run when nothing of it is left.
func (l *promiseLane) sent(pool types.NamespacedName, run *promiseRun, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	run.sending += n
	l.endLocked(pool, run)
}

// endLocked ends the run if it neither decides nor waits for an answer. l.mu is held.
func (l *promiseLane) endLocked(pool types.NamespacedName, run *promiseRun) {
	if run.deciding || run.sending > 0 {
		return
	}
	close(run.done)
	if l.running[pool] == run {
		delete(l.running, pool)
	}
}

// grantPromised decides on the cache as a pass does, and sends only the grants on a promise
// that is due; it returns once they are on their way. Whatever it cannot do at once (the cache
// is behind, a fresh read is wanted, the slow lane is writing the session) it leaves to the
// pool's pass. A grant still in flight from an earlier decision shows in the cache as waiting;
// the claim (poolMemory.claimPromised) keeps it from going twice.
func (r *PoolReconciler) grantPromised(ctx context.Context, pool types.NamespacedName, run *promiseRun) {
	defer recoverLane(ctx, pool)
	lane := r.memory.grantsStart(pool)
	sending := false
	defer func() {
		if !sending {
			r.memory.grantsEnd(lane, false, r.Clock.Now())
		}
	}()
	var snap *snapshot
	for try := 0; ; try++ {
		r.promised.reading(run)
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
	if ws = r.memory.claimPromised(ws); len(ws) == 0 {
		return
	}
	sending = true
	r.promised.sent(pool, run, 1)
	go func() {
		defer r.promised.sent(pool, run, -1)
		// The slow lane goes on at the busy pace: licences moved (see slowLane.pace).
		defer func() { r.memory.grantsEnd(lane, true, r.Clock.Now()) }()
		defer recoverLane(ctx, pool)
		if err := r.sendPromised(ctx, snap, ws); err != nil {
			// The pass the same news started decides again, on the newer state.
			log.FromContext(ctx).V(1).Info("a grant on a promise did not land", "pool", pool.String(), "error", err.Error())
		}
	}()
	// The run may decide again at once, and with the other processor busy the goroutine just
	// started would wait behind that decision (up to the scheduler's 10 ms slice) before its
	// request leaves: let it put the request on the wire first.
	runtime.Gosched()
}

// recoverLane logs a panic of the promise lane, which stops only what it was doing: the pool's
// pass grants instead.
func recoverLane(ctx context.Context, pool types.NamespacedName) {
	if p := recover(); p != nil {
		log.FromContext(ctx).Error(fmt.Errorf("%v", p), "the promise lane stopped on a panic; the pool's pass grants instead", "pool", pool.String())
	}
}

// writePromised writes the grants on a promise that neither the lane nor a pass is writing
// already, and counts those that landed.
func (r *PoolReconciler) writePromised(ctx context.Context, snap *snapshot, ws []statusWrite) error {
	return r.sendPromised(ctx, snap, r.memory.claimPromised(ws))
}

// sendPromised writes grants on a promise that claimPromised gave the caller, lets go of them,
// and counts those that landed, even when another failed.
func (r *PoolReconciler) sendPromised(ctx context.Context, snap *snapshot, ws []statusWrite) error {
	if len(ws) == 0 {
		return nil
	}
	var landed []statusWrite
	defer func() { r.memory.unclaimPromised(ws, landed, r.Clock.Now()) }()
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
