package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// PoolReconciler grants the seats and shared licences of one pool. Its key is the pool's
// namespace and name, whether or not the pool exists: seat assignments and sessions naming a
// missing pool are reconciled under that key too.
//
// A pass reads a snapshot (pool_snapshot.go), lets the allocator decide, plans the writes
// (pool_plan.go) and applies them in the ledger's order (pool_apply.go; the protocol is in
// ledger.go). What it remembers between passes is in one place (pool_memory.go).
type PoolReconciler struct {
	client.Client
	// APIReader reads around the cache, to check ledger entries the cache does not show.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Recorder  recorder.EventRecorder

	// partSize is how many holders of a kind one part of a ledger records (0: the API's
	// LedgerPartSize); tests set it small to run every spec on ledgers of several parts.
	partSize int

	memory poolMemory
	// promised is the promise lane: grants on a promise, written as soon as the watch reports
	// a licence freed (promise_lane.go).
	promised promiseLane
	// kicks asks for passes of pools from outside the watches: the slow lane's, when a pass
	// is wanted after its writes (nil: none is asked for).
	kicks chan event.GenericEvent
	// laneInline has a pass send what its slow lane may send at once before it returns, and no
	// more: unit tests see every write a pass led to, on a clock of their own.
	laneInline bool
}

// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools/status,verbs=patch;update
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments;sharedsessions,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions,verbs=delete
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments/status;sharedsessions/status,verbs=patch;update
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=customerorders,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licenseledgers,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licenseledgers/status,verbs=patch;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is one pass over a pool: snapshot, decide, plan, apply. The pool's slow lane
// waits while it runs, and takes the writes that move no licence when it ends.
func (r *PoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.memory.passStarts(req.NamespacedName)
	// A pass whose writes landed hands its slow ones over; any other leaves the lane as it was.
	var slow []slowWrite
	var seen *v1alpha1.LicensePool
	handed, moved := false, false
	defer func() { r.endPass(ctx, req.NamespacedName, seen, slow, handed, moved) }()
	if wait := r.memory.backingOff(req.NamespacedName, r.Clock.Now()); wait > 0 {
		// The API server refused the pool's last write for good (refusals.go).
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.promised.awaitPromises(ctx, req.NamespacedName, promiseRunWait)
	snap, wait, err := r.snapshot(ctx, req.NamespacedName)
	if err != nil || wait > 0 {
		return waitOrFail(wait, err)
	}
	if snap.empty() {
		metrics.ForgetPool(req.Namespace, req.Name)
		r.memory.poolGone(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	now := r.Clock.Now()
	res := snap.decide(now)
	if res.NeedsFreshRead {
		if snap, wait, err = r.freshSnapshot(ctx, snap); err != nil || wait > 0 {
			return waitOrFail(wait, err)
		}
		res = snap.decide(now)
	}

	plan := planWrites(snap, res, now, r.memory.waitsOf(snap.sessions))
	if plan.ledgerErr != nil {
		return ctrl.Result{}, plan.ledgerErr
	}
	if waited := plan.waitsForLane(snap.writing); len(waited) > 0 {
		// A licence would move on a claimant the slow lane is writing: its answer is a few
		// milliseconds away. What the lane still holds for it, this pass's write replaces.
		r.memory.dropQueued(req.NamespacedName, waited)
		return ctrl.Result{RequeueAfter: echoDelay}, nil
	}
	r.memory.noteWaits(plan.quietStarted, nil, now)
	slow, err = r.apply(ctx, snap, plan)
	if err == nil {
		err = r.memory.laneRefusal(req.NamespacedName)
	}
	if refusedForGood(err) {
		return r.refused(ctx, snap, plan, err, now), nil
	}
	if err != nil {
		return retryOnConflict(ctx, err)
	}
	seen, handed = snap.pool, true
	moved = len(plan.revoke) > 0 || len(plan.fast) > 0 || len(plan.checked) > 0
	if !r.memory.laneRefusing(req.NamespacedName) && r.memory.accepted(req.NamespacedName) {
		log.FromContext(ctx).Info("the API server accepts the pool's writes again")
	}
	poolGauges(req.Namespace, req.Name, snap.pool, res)
	next := earliest(earliest(res.Next, plan.announceAt), r.memory.notesDueAt(req.NamespacedName))
	return requeueAt(next, r.Clock.Now()), nil
}

// endPass lets the pool's slow lane go on, with the pass's writes if it handed them over (at
// the busy pace if the pass moved a licence), and starts its drainer if none runs.
func (r *PoolReconciler) endPass(ctx context.Context, pool types.NamespacedName, seen *v1alpha1.LicensePool, slow []slowWrite, handed, moved bool) {
	l := r.memory.passEnds(pool, seen, slow, handed, moved, r.Clock.Now())
	if l == nil {
		return
	}
	if r.laneInline {
		r.drain(ctx, pool, l)
		return
	}
	go r.drain(ctx, pool, l)
}
