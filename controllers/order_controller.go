package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// OrderCreatedLabel marks a pool that a CustomerOrder created; its value is the order's name.
const OrderCreatedLabel = "licensing.seatkeeper.io/created-by-order"

// OrderReconciler reports where a CustomerOrder's capacity counts and creates the pools an
// active order needs. It does not add the capacity itself: each pool's reconciler sums the
// active orders that name it, so a pool's limits are decided in one place.
type OrderReconciler struct {
	client.Client
	Clock    clock.PassiveClock
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=customerorders,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=customerorders/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile brings one order's status up to date and creates its missing pools when active.
func (r *OrderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	order := &v1alpha1.CustomerOrder{}
	if err := r.Get(ctx, req.NamespacedName, order); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	world, err := r.observe(ctx, order)
	if err != nil {
		return ctrl.Result{}, err
	}
	d := decideOrder(order, world, now)
	for _, p := range d.create {
		if err := r.Create(ctx, p); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("create pool %s/%s for order %s: %w", p.Namespace, p.Name, order.Name, err)
		}
		r.event(order, corev1.EventTypeNormal, "PoolCreated", "Create", fmt.Sprintf("created pool %s/%s for product %s", p.Namespace, p.Name, p.Spec.Product))
	}
	if err := r.writeStatus(ctx, order, d.status); err != nil {
		// A conflict is routine (the order changed meanwhile): decide again, logged at debug,
		// not as a reconciler error with a stack trace.
		return retryOnConflict(ctx, err)
	}
	return requeueAt(d.next, r.Clock.Now()), nil
}

// orderWorld is what an order's status depends on besides the order: its customer's namespace
// and the pools its items name (nil where missing).
type orderWorld struct {
	namespaceFound bool
	pools          map[string]*v1alpha1.LicensePool
}

func (r *OrderReconciler) observe(ctx context.Context, o *v1alpha1.CustomerOrder) (orderWorld, error) {
	w := orderWorld{pools: map[string]*v1alpha1.LicensePool{}}
	if o.Spec.Customer == "" {
		return w, nil
	}
	if err := r.Get(ctx, types.NamespacedName{Name: o.Spec.Customer}, &corev1.Namespace{}); err != nil {
		if apierrors.IsNotFound(err) {
			return w, nil
		}
		return w, fmt.Errorf("get namespace %s: %w", o.Spec.Customer, err)
	}
	w.namespaceFound = true
	for _, it := range o.Spec.Items {
		p := &v1alpha1.LicensePool{}
		err := r.Get(ctx, types.NamespacedName{Namespace: o.Spec.Customer, Name: it.TargetPool()}, p)
		switch {
		case apierrors.IsNotFound(err):
			w.pools[it.TargetPool()] = nil
		case err != nil:
			return w, fmt.Errorf("get pool %s/%s: %w", o.Spec.Customer, it.TargetPool(), err)
		default:
			w.pools[it.TargetPool()] = p
		}
	}
	return w, nil
}

// orderDecision is the order's new status, the pools to create and when to look again.
type orderDecision struct {
	status v1alpha1.CustomerOrderStatus
	create []*v1alpha1.LicensePool
	next   time.Time
}

// decideOrder computes an order's status, the pools it needs created and when to look again;
// it makes no client calls.
func decideOrder(o *v1alpha1.CustomerOrder, w orderWorld, now time.Time) orderDecision {
	var d orderDecision
	for _, t := range []*metav1.Time{o.Spec.StartsAt, o.Spec.ExpiresAt} {
		if t != nil && t.After(now) && (d.next.IsZero() || t.Time.Before(d.next)) {
			d.next = t.Time
		}
	}
	var fulfilled bool
	d.status, fulfilled = orderStatus(o, w, now)
	if fulfilled {
		for _, it := range o.Spec.Items {
			if w.pools[it.TargetPool()] == nil {
				d.create = append(d.create, poolForItem(o, it))
			}
		}
	}
	return d
}

// poolForItem is the pool an active order creates for an item whose pool is missing: no
// capacity of its own, so that it holds exactly what orders add. It is not owned by the order,
// so that deleting the order keeps its seats and history.
func poolForItem(o *v1alpha1.CustomerOrder, it v1alpha1.OrderItem) *v1alpha1.LicensePool {
	return &v1alpha1.LicensePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.Spec.Customer, Name: it.TargetPool(), Labels: map[string]string{OrderCreatedLabel: o.Name}},
		Spec:       v1alpha1.LicensePoolSpec{Product: it.Product, Seats: ptr.To[int32](0), ConcurrentSessions: ptr.To[int32](0)},
	}
}

func (r *OrderReconciler) writeStatus(ctx context.Context, o *v1alpha1.CustomerOrder, st v1alpha1.CustomerOrderStatus) error {
	if equality.Semantic.DeepEqual(st, o.Status) {
		return nil
	}
	next := o.DeepCopy()
	next.Status = st
	if err := r.Status().Patch(ctx, next, client.MergeFromWithOptions(o, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch status of order %s: %w", o.Name, err)
	}
	if st.Phase != o.Status.Phase {
		switch st.Phase {
		case v1alpha1.OrderActive:
			r.event(next, corev1.EventTypeNormal, "Fulfilled", "Fulfil", meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionFulfilled).Message)
		case v1alpha1.OrderExpired, v1alpha1.OrderCancelled, v1alpha1.OrderInvalid:
			r.event(next, corev1.EventTypeWarning, string(st.Phase), "Report", meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionFulfilled).Message)
		}
	}
	return nil
}

func (r *OrderReconciler) event(o client.Object, typ, reason, action, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(o, nil, typ, reason, action, "%s", msg)
	}
}

// SetupWithManager watches orders, and the namespaces and pools they name.
func (r *OrderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("customerorder").
		For(&v1alpha1.CustomerOrder{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.ordersOfNamespace)).
		Watches(&v1alpha1.LicensePool{}, handler.EnqueueRequestsFromMapFunc(r.ordersOfPool)).
		Complete(r)
}

func (r *OrderReconciler) ordersOfNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	return r.ordersMatching(ctx, client.MatchingFields{indexOrderCustomer: ns.GetName()})
}

func (r *OrderReconciler) ordersOfPool(ctx context.Context, p client.Object) []reconcile.Request {
	return r.ordersMatching(ctx, client.MatchingFields{indexOrderPool: p.GetNamespace() + "/" + p.GetName()})
}

func (r *OrderReconciler) ordersMatching(ctx context.Context, sel client.MatchingFields) []reconcile.Request {
	var orders v1alpha1.CustomerOrderList
	if err := r.List(ctx, &orders, sel); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list orders", "selector", sel)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(orders.Items))
	for _, o := range orders.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: o.Name}})
	}
	return reqs
}
