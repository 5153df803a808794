package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// SetupWithManager watches pools, and the seats, sessions, orders and ledger parts that name
// them, all keyed by the pool; and the slow lanes' requests for a pass (slow_lane.go).
func (r *PoolReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	memory := r.memory.watchPredicate(r.Clock.Now)
	r.kicks = make(chan event.GenericEvent, 64)
	if err := mgr.Add(&r.promised); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("licensepool").
		For(&v1alpha1.LicensePool{}, builder.WithPredicates(memory)).
		Watches(&v1alpha1.SeatAssignment{}, handler.EnqueueRequestsFromMapFunc(poolOfClaimant),
			builder.WithPredicates(memory)).
		Watches(&v1alpha1.SharedSession{}, handler.EnqueueRequestsFromMapFunc(poolOfClaimant),
			builder.WithPredicates(memory, notHeartbeat, r.freedPredicate())).
		Watches(&v1alpha1.CustomerOrder{}, handler.EnqueueRequestsFromMapFunc(poolsOfOrder)).
		Watches(&v1alpha1.LicenseLedger{}, handler.EnqueueRequestsFromMapFunc(poolOfClaimant),
			builder.WithPredicates(memory)).
		WatchesRawSource(source.Channel(r.kicks, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: workers,
			// Failures retry quickly and back off to 2s at most, never the default's 16 minutes:
			// a licence deadline must not wait behind a transient error.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, 2*time.Second),
		}).
		Complete(r)
}

// poolOfClaimant keys a seat assignment, a session or a part of a ledger by the pool it names.
func poolOfClaimant(_ context.Context, o client.Object) []reconcile.Request {
	var pool string
	switch c := o.(type) {
	case *v1alpha1.SeatAssignment:
		pool = c.Spec.PoolName
	case *v1alpha1.SharedSession:
		pool = c.Spec.PoolName
	case *v1alpha1.LicenseLedger:
		pool = c.Spec.PoolName
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: pool}}}
}

// poolsOfOrder keys an order by each pool it adds to; none while it is unassigned.
func poolsOfOrder(_ context.Context, o client.Object) []reconcile.Request {
	order := o.(*v1alpha1.CustomerOrder)
	var reqs []reconcile.Request
	for _, it := range order.Spec.Items {
		if order.Spec.Customer != "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: order.Spec.Customer, Name: it.TargetPool()}})
		}
	}
	return reqs
}

// notHeartbeat drops session updates that only renew status.renewTime. A heartbeat then costs
// the operator one comparison of two cached objects: no reconcile, no write, no recount of the
// pool. The pool still looks at the session at its heartbeat deadline, which its last
// reconcile requested, and reads the renewed time from the cache then.
var notHeartbeat = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return !isHeartbeat(e.ObjectOld, e.ObjectNew)
}}

func isHeartbeat(oldObj, newObj client.Object) bool {
	o, ok1 := oldObj.(*v1alpha1.SharedSession)
	n, ok2 := newObj.(*v1alpha1.SharedSession)
	if !ok1 || !ok2 || o.Generation != n.Generation || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) {
		return false
	}
	os, ns := o.Status, n.Status
	os.RenewTime, ns.RenewTime = nil, nil
	return equality.Semantic.DeepEqual(os, ns)
}
