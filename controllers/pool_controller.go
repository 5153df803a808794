package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// PoolReconciler grants the seats and shared licences of one pool. Its key is the pool's
// namespace and name, whether or not the pool exists: seat assignments and sessions naming a
// missing pool are reconciled under that key too.
//
// # The ledger
//
// The pool's status.ledger lists who holds each limited kind of licence. A reconcile takes the
// allocator's decision and applies it in this order:
//
//  1. claimants that lose a licence are written first (Pending, or Ended, which is final);
//  2. the pool's status, with the new ledger, is patched with optimistic concurrency on the
//     pool's resourceVersion (when nothing changed but someone is about to be granted, the
//     patch carries only the resourceVersion: it checks that the decision was made on the
//     newest ledger);
//  3. claimants that gain or keep a licence, and sessions that end without having held one
//     (Rejected, NotEntitled), are written, each with optimistic concurrency on its own
//     resourceVersion.
//
// So a grant is in the ledger before it shows on a claimant, as the built-in ResourceQuota
// records usage before admitting an object, and the ledger can never list more than the limit.
// A second operator, or this one with a stale cache, fails step 2 with a conflict and decides
// again on fresh data. The ledger records each holder's UID. A ledger entry whose claimant is
// missing from the cache (or there under another UID) is dropped only when the watch reported
// that UID deleted, or a direct read finds it gone, so a stale cache cannot free a licence that
// is still held. A pass that starts a ledger, or takes licences back because capacity shrank,
// reads the claimants and orders from the API server instead of the cache before it acts.
//
// # Its own writes
//
// The watch events that bring back the operator's own status writes start no pass (the pass
// that wrote them decided on that state), and a pass that finds the cache still without one of
// them waits a few milliseconds for it rather than decide on older state (see watch_memory.go).
// Events are grouped per pass: several sessions granted together make one Event on the pool.
type PoolReconciler struct {
	client.Client
	// APIReader reads around the cache, to check ledger entries the cache does not show.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Recorder  recorder.EventRecorder

	heads  refresh
	tails  refresh
	echoes echoes
	gone   gone
	waits  quietWaits
}

// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments;sharedsessions,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions,verbs=delete
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=seatassignments/status;sharedsessions/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=customerorders,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile decides the pool's grants from the cache and applies them; see the type's comment.
func (r *PoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pool, err := r.getPool(ctx, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	seats, sessions, err := r.listClaimants(ctx, r.Client, req.NamespacedName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if pool == nil && len(seats) == 0 && len(sessions) == 0 {
		metrics.ForgetPool(req.Namespace, req.Name)
		r.heads.forget(req.NamespacedName)
		r.tails.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if r.echoes.behind(r.Clock.Now(), pool, seats, sessions) {
		// The cache has not brought back one of our own writes yet; its event is on the way.
		return ctrl.Result{RequeueAfter: 5 * time.Millisecond}, nil
	}
	uids := uidsOf(seats, sessions)
	if stale, err := r.ledgerAhead(ctx, pool, uids); err != nil || stale {
		// The ledger names a claimant the cache has not seen yet: wait for the cache.
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, err
	}
	capacity, err := r.orderCapacity(ctx, req.NamespacedName, pool, false)
	if err != nil {
		return ctrl.Result{}, err
	}

	now := r.Clock.Now()
	res := decide(req.Name, pool, capacity, seats, sessions, uids, now)
	if needsFreshRead(pool, seats, sessions, res) {
		// Starting a ledger, taking licences back because capacity shrank, and ending a
		// session for good must not rest on a cache that may lag (a pool or order it has not
		// heard of, a grant by another replica): decide again on what the API server says.
		if pool == nil {
			if err := r.APIReader.Get(ctx, req.NamespacedName, &v1alpha1.LicensePool{}); !apierrors.IsNotFound(err) {
				// The pool exists (or we cannot tell): wait for the cache rather than end anyone.
				return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, err
			}
		} else if seats, sessions, err = r.listClaimants(ctx, r.APIReader, req.NamespacedName); err != nil {
			return ctrl.Result{}, err
		}
		if pool != nil {
			if capacity, err = r.orderCapacity(ctx, req.NamespacedName, pool, true); err != nil {
				return ctrl.Result{}, err
			}
			uids = uidsOf(seats, sessions)
			res = decide(req.Name, pool, capacity, seats, sessions, uids, now)
		}
	}
	plan := planWrites(seats, sessions, res, now, &r.waits)

	// 1. Revocations first: a claimant stops showing a licence before the ledger frees it.
	if err := r.writeClaimants(ctx, pool, plan.revoke); err != nil {
		return retryOnConflict(ctx, err)
	}
	// 2. The ledger, with optimistic concurrency on the pool.
	if pool != nil {
		if err := r.writePoolStatus(ctx, pool, res, capacity, uids, len(plan.checked) > 0); err != nil {
			return retryOnConflict(ctx, err)
		}
	}
	// 3. Grants, ends decided on the ledger, and everything else.
	if err := r.writeClaimants(ctx, pool, plan.checked); err != nil {
		return retryOnConflict(ctx, err)
	}
	if err := r.writeClaimants(ctx, pool, plan.other); err != nil {
		return retryOnConflict(ctx, err)
	}
	next := earliest(res.Next, plan.announceAt)
	at, err := r.writeThrottled(ctx, req.NamespacedName, pool, plan.head, &r.heads, headRefreshEvery, now)
	if err != nil {
		return retryOnConflict(ctx, err)
	}
	next = earliest(next, at)
	if at, err = r.writeThrottled(ctx, req.NamespacedName, pool, plan.tail, &r.tails, tailRefreshEvery, now); err != nil {
		return retryOnConflict(ctx, err)
	}
	next = earliest(next, at)
	if err := r.deleteExpired(ctx, plan.remove); err != nil {
		return ctrl.Result{}, err
	}
	poolGauges(req.Namespace, req.Name, pool, res)
	return requeueAt(next, r.Clock.Now()), nil
}

func (r *PoolReconciler) getPool(ctx context.Context, key types.NamespacedName) (*v1alpha1.LicensePool, error) {
	pool := &v1alpha1.LicensePool{}
	if err := r.Get(ctx, key, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get pool %s: %w", key, err)
	}
	return pool, nil
}

// listClaimants lists the pool's seat assignments and sessions from the cache, without copies:
// they are read-only here, and copied only when written.
// The cache's index and the API server's selectable field share the name spec.poolName, so the
// same call reads either.
func (r *PoolReconciler) listClaimants(ctx context.Context, reader client.Reader, key types.NamespacedName) ([]*v1alpha1.SeatAssignment, []*v1alpha1.SharedSession, error) {
	opts := []client.ListOption{client.InNamespace(key.Namespace), client.MatchingFields{indexPoolName: key.Name}, client.UnsafeDisableDeepCopy}
	var seatList v1alpha1.SeatAssignmentList
	if err := reader.List(ctx, &seatList, opts...); err != nil {
		return nil, nil, fmt.Errorf("list seats of pool %s: %w", key, err)
	}
	var sessList v1alpha1.SharedSessionList
	if err := reader.List(ctx, &sessList, opts...); err != nil {
		return nil, nil, fmt.Errorf("list sessions of pool %s: %w", key, err)
	}
	seats := make([]*v1alpha1.SeatAssignment, 0, len(seatList.Items))
	for i := range seatList.Items {
		seats = append(seats, &seatList.Items[i])
	}
	sessions := make([]*v1alpha1.SharedSession, 0, len(sessList.Items))
	for i := range sessList.Items {
		sessions = append(sessions, &sessList.Items[i])
	}
	return seats, sessions, nil
}

// orderCapacity sums the active orders naming the pool, from the cache or, when fresh, from the
// API server.
func (r *PoolReconciler) orderCapacity(ctx context.Context, key types.NamespacedName, pool *v1alpha1.LicensePool, fresh bool) (orderCapacity, error) {
	if pool == nil {
		return orderCapacity{}, nil
	}
	var orders v1alpha1.CustomerOrderList
	var err error
	if fresh {
		// The API server has no selector on order items: read them all (rare: see
		// needsFreshRead); capacityFor keeps the ones naming this pool.
		err = r.APIReader.List(ctx, &orders)
	} else {
		err = r.List(ctx, &orders, client.MatchingFields{indexOrderPool: key.String()})
	}
	if err != nil {
		return orderCapacity{}, fmt.Errorf("list orders of pool %s: %w", key, err)
	}
	productOf := func(name string) (string, bool) {
		if name == key.Name {
			return pool.Spec.Product, true
		}
		other := &v1alpha1.LicensePool{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, other); err != nil {
			return "", false
		}
		return other.Spec.Product, true
	}
	return capacityFor(orders.Items, key.Namespace, key.Name, pool.Spec.Product, r.Clock.Now(), productOf), nil
}

// decide runs the allocator over the pool's snapshot.
func decide(name string, pool *v1alpha1.LicensePool, capacity orderCapacity, seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession, uids holderUIDs, now time.Time) allocator.Result {
	as := make([]allocator.Seat, len(seats))
	for i, s := range seats {
		as[i] = allocatorSeat(s)
	}
	ss := make([]allocator.Session, len(sessions))
	for i, s := range sessions {
		ss[i] = allocatorSession(s)
	}
	return allocator.Decide(allocatorPool(name, pool, capacity, uids), as, ss, now)
}

// needsFreshRead reports whether a decision starts keeping a ledger, takes licences back
// because capacity shrank, or ends a session because its pool or its seat seems missing: all
// are decided on the cache, which may lag, and an end is final.
func needsFreshRead(pool *v1alpha1.LicensePool, seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession, res allocator.Result) bool {
	for i, s := range sessions {
		switch res.Sessions[i].EndReason {
		case v1alpha1.EndPoolNotFound, v1alpha1.EndNotEntitled, v1alpha1.EndCapacityReduced:
			if s.Status.Phase != v1alpha1.SessionEnded {
				return true
			}
		}
	}
	if pool == nil {
		return false
	}
	l := pool.Status.Ledger
	if (res.SeatLedger != nil && (l == nil || l.Seats == nil)) || (res.SessionLedger != nil && (l == nil || l.Sessions == nil)) {
		return true
	}
	for i, s := range seats {
		if s.Status.Phase == v1alpha1.SeatBound && res.Seats[i].Reason == v1alpha1.SeatReasonCapacityReduced {
			return true
		}
	}
	return false
}

// requeueAt asks to be called again at the next deadline; a few milliseconds late rather than
// early, so that the deadline has passed when the pool is looked at.
func requeueAt(next, now time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), 0) + 5*time.Millisecond}
}

// earliest is the earlier of two deadlines; zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// retryOnConflict turns a lost optimistic-concurrency race into a quick retry: the cache will
// bring the winner's write, and the next pass decides on it.
func retryOnConflict(ctx context.Context, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		log.FromContext(ctx).V(1).Info("lost a race; deciding again", "reason", err.Error())
		return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
	}
	return ctrl.Result{}, err
}
