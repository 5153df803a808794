package kueuecheck

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Reasons of the AdmissionCheck's Active condition, as Kueue's own checks name them.
const (
	ReasonActive           = "Active"
	ReasonBadParametersRef = "BadParametersRef"
)

// AdmissionCheckReconciler keeps the Active condition of seatkeeper's AdmissionChecks, which
// Kueue requires before it admits anything through them, and the Ready condition of the
// LicenseCheckParameters they name.
type AdmissionCheckReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=admissionchecks,verbs=get;list;watch
// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=admissionchecks/status,verbs=patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensecheckparameters,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensecheckparameters/status,verbs=patch

// Reconcile sets one AdmissionCheck's Active condition from whether its parameters resolve.
func (r *AdmissionCheckReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ac := &kueue.AdmissionCheck{}
	if err := r.Get(ctx, req.NamespacedName, ac); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ac.Spec.ControllerName != v1alpha1.KueueCheckControllerName {
		return ctrl.Result{}, nil
	}
	var params *v1alpha1.LicenseCheckParameters
	if ref := ac.Spec.Parameters; ref != nil && refersToParameters(ref) {
		params = &v1alpha1.LicenseCheckParameters{}
		if err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, params); err != nil {
			if !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("get parameters %s of admission check %s: %w", ref.Name, ac.Name, err)
			}
			params = nil
		}
	}
	if params != nil {
		if err := r.setParametersReady(ctx, params); err != nil {
			return ctrl.Result{}, err
		}
	}
	next := ac.DeepCopy()
	if !apimeta.SetStatusCondition(&next.Status.Conditions, activeCondition(ac, params)) {
		return ctrl.Result{}, nil
	}
	if err := r.Status().Patch(ctx, next, client.MergeFromWithOptions(ac, client.MergeFromWithOptimisticLock{})); err != nil {
		// A conflict means a newer version, which the watch brings back here.
		return ctrl.Result{}, ignoreConflict(fmt.Errorf("set Active of admission check %s: %w", ac.Name, err))
	}
	return ctrl.Result{}, nil
}

// activeCondition is the AdmissionCheck's Active condition given its resolved parameters
// (nil when none resolve). It makes no client calls.
func activeCondition(ac *kueue.AdmissionCheck, params *v1alpha1.LicenseCheckParameters) metav1.Condition {
	c := metav1.Condition{Type: kueue.AdmissionCheckActive, Status: metav1.ConditionTrue, Reason: ReasonActive, ObservedGeneration: ac.Generation}
	ref := ac.Spec.Parameters
	switch {
	case ref == nil:
		c.Message = fmt.Sprintf("The admission check is active: each Workload names its licence pool with the annotation %s", v1alpha1.WorkloadPoolAnnotation)
	case !refersToParameters(ref):
		c.Status, c.Reason = metav1.ConditionFalse, ReasonBadParametersRef
		c.Message = fmt.Sprintf("spec.parameters must name a LicenseCheckParameters of apiGroup %s, not %s %s/%s", v1alpha1.GroupVersion.Group, ref.Kind, ref.APIGroup, ref.Name)
	case params == nil:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonBadParametersRef
		c.Message = fmt.Sprintf("LicenseCheckParameters %s not found", ref.Name)
	default:
		c.Message = fmt.Sprintf("The admission check is active: licences from pool %s, %d per pod", params.Spec.PoolName, max(params.Spec.LicensesPerPod, 1))
	}
	return c
}

// setParametersReady marks the parameters Ready for their generation once they are read.
func (r *AdmissionCheckReconciler) setParametersReady(ctx context.Context, p *v1alpha1.LicenseCheckParameters) error {
	next := p.DeepCopy()
	changed := apimeta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReconciled,
		Message: "in use by seatkeeper's Kueue admission check", ObservedGeneration: p.Generation,
	})
	if !changed && p.Status.ObservedGeneration == p.Generation {
		return nil
	}
	next.Status.ObservedGeneration = p.Generation
	if err := r.Status().Patch(ctx, next, client.MergeFromWithOptions(p, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("set Ready of parameters %s: %w", p.Name, err)
	}
	return nil
}

// SetupWithManager watches seatkeeper's AdmissionChecks and the parameters they name.
func (r *AdmissionCheckReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		ac, ok := o.(*kueue.AdmissionCheck)
		return ok && ac.Spec.ControllerName == v1alpha1.KueueCheckControllerName
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("kueue-admissioncheck").
		For(&kueue.AdmissionCheck{}, builder.WithPredicates(ours)).
		Watches(&v1alpha1.LicenseCheckParameters{}, handler.EnqueueRequestsFromMapFunc(r.checksOf)).
		Complete(r)
}

// checksOf lists seatkeeper's AdmissionChecks that name the parameters.
func (r *AdmissionCheckReconciler) checksOf(ctx context.Context, o client.Object) []ctrl.Request {
	var acs kueue.AdmissionCheckList
	if err := r.List(ctx, &acs); err != nil {
		return nil
	}
	var reqs []ctrl.Request
	for _, ac := range acs.Items {
		if ref := ac.Spec.Parameters; ac.Spec.ControllerName == v1alpha1.KueueCheckControllerName && ref != nil && refersToParameters(ref) && ref.Name == o.GetName() {
			reqs = append(reqs, ctrl.Request{NamespacedName: types.NamespacedName{Name: ac.Name}})
		}
	}
	return reqs
}
