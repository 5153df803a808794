package controllers

import (
	"context"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

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
}

// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments;sharedsessions,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions,verbs=delete
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments/status;sharedsessions/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=customerorders,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licenseledgers,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licenseledgers/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is one pass over a pool: snapshot, decide, plan, apply.
func (r *PoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if wait := r.memory.backingOff(req.NamespacedName, r.Clock.Now()); wait > 0 {
		// The API server refused the pool's last write for good (refusals.go).
		return ctrl.Result{RequeueAfter: wait}, nil
	}
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

	plan := planWrites(snap, res, now, r.memory.waitingSince)
	if plan.ledgerErr != nil {
		return ctrl.Result{}, plan.ledgerErr
	}
	if plan.waitsForEcho(snap.stale) {
		// A licence would move on a claimant's state older than our own last write of it.
		return ctrl.Result{RequeueAfter: echoDelay}, nil
	}
	deferred := plan.deferStale(snap.stale)
	r.memory.noteWaits(plan.quietStarted, nil, now)
	due, err := r.apply(ctx, snap, plan, now)
	if refusedForGood(err) {
		return r.refused(ctx, snap, plan, err, now), nil
	}
	if err != nil {
		return retryOnConflict(ctx, err)
	}
	if r.memory.accepted(req.NamespacedName) {
		log.FromContext(ctx).Info("the API server accepts the pool's writes again")
	}
	poolGauges(req.Namespace, req.Name, snap.pool, res)
	if deferred {
		due = earliest(due, now.Add(echoDelay))
	}
	return requeueAt(earliest(res.Next, due), r.Clock.Now()), nil
}
