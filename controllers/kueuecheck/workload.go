// Package kueuecheck makes seatkeeper the controller of Kueue AdmissionChecks whose
// spec.controllerName is licensing.seatkeeper.io/license. Kueue keeps deciding quota; for each
// Workload that has quota reserved and carries such a check, seatkeeper takes the licences it
// needs in a SharedSession owned by the Workload, heartbeats it, and reports the session in the
// check's state: Pending while it waits, Ready once granted, Rejected when it can never be,
// Retry when it was ended from outside. Neither side writes the other's objects beyond that
// state and the AdmissionCheck's Active condition.
package kueuecheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/heartbeat"
)

// SessionLabel marks a SharedSession taken for a Kueue Workload; its value is the Workload's UID.
const SessionLabel = "licensing.seatkeeper.io/workload-uid"

// indexOwnerWorkload indexes SharedSessions by the name of the Workload that owns them.
const indexOwnerWorkload = "metadata.ownerReferences.workload"

// WorkloadReconciler takes, renews and gives back the licences of Kueue Workloads that carry
// one of seatkeeper's admission checks, and sets the check's state.
type WorkloadReconciler struct {
	client.Client
	// APIReader confirms from the API server that a pool is missing before a Workload is
	// Rejected for it: Rejected deactivates the Workload, so a stale cache must not cause it.
	APIReader client.Reader
	Clock     clock.PassiveClock
}

// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=workloads,verbs=get;list;watch
// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=workloads/status,verbs=patch
// +kubebuilder:rbac:groups=kueue.x-k8s.io,resources=admissionchecks,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=licensepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions/status,verbs=patch

// Reconcile brings one Workload's licences and check state in line with its quota.
func (r *WorkloadReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	wl := &kueue.Workload{}
	if err := r.Get(ctx, req.NamespacedName, wl); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get workload %s: %w", req.NamespacedName, err)
		}
		wl = nil
	}
	ac, check, err := r.ourCheck(ctx, wl)
	if err != nil {
		return ctrl.Result{}, err
	}
	current := ""
	if check != nil && wantsLicences(wl) {
		current = sessionName(wl)
	}
	sess, err := r.endOthers(ctx, req.Namespace, req.Name, wl, current)
	if err != nil || current == "" {
		return ctrl.Result{}, err
	}
	if check.State == kueue.CheckStateRejected || check.State == kueue.CheckStateRetry {
		// Kueue acts on these (eviction, deactivation) and resets the check to Pending; a new
		// try starts with the next quota reservation.
		return ctrl.Result{}, nil
	}
	params, err := r.parameters(ctx, ac)
	if err != nil || (params == nil && ac.Spec.Parameters != nil) {
		// The AdmissionCheck is inactive (its reconciler says why): Kueue admits nothing through it.
		return ctrl.Result{}, err
	}
	want, reqErr := requestOf(wl, params)
	pool, err := r.pool(ctx, r.Client, req.Namespace, want.pool, reqErr)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	v := decide(want, reqErr, pool, sess, now)
	if v.state == kueue.CheckStateRejected && reqErr == nil && sess == nil {
		// Confirm from the API server what the cache says of the pool before turning it away.
		if pool, err = r.pool(ctx, r.APIReader, req.Namespace, want.pool, nil); err != nil {
			return ctrl.Result{}, err
		}
		v = decide(want, nil, pool, sess, now)
	}
	if v.create {
		if err := r.createSession(ctx, wl, want, current); err != nil {
			return ctrl.Result{}, err
		}
		if v.state == kueue.CheckStatePending && check.State == kueue.CheckStatePending {
			// The session's first status brings the Workload back here: Ready at once with
			// free licences, or the queue's message, without a write of Pending in between
			// (which would race Kueue's own write of the quota reservation).
			return ctrl.Result{}, nil
		}
	}
	if err := r.setCheck(ctx, wl, check, v); err != nil {
		// Kueue changed the Workload meanwhile: the watch brings its new version back here.
		return ctrl.Result{}, ignoreConflict(err)
	}
	if sess == nil || sess.Status.Phase == v1alpha1.SessionEnded {
		return ctrl.Result{}, nil
	}
	return r.renew(ctx, sess, pool)
}

// ourCheck finds the first of the Workload's admission checks that seatkeeper controls.
func (r *WorkloadReconciler) ourCheck(ctx context.Context, wl *kueue.Workload) (*kueue.AdmissionCheck, *kueue.AdmissionCheckState, error) {
	if wl == nil || len(wl.Status.AdmissionChecks) == 0 {
		return nil, nil, nil
	}
	var acs kueue.AdmissionCheckList
	if err := r.List(ctx, &acs); err != nil {
		return nil, nil, fmt.Errorf("list admission checks: %w", err)
	}
	for i := range wl.Status.AdmissionChecks {
		st := &wl.Status.AdmissionChecks[i]
		for j := range acs.Items {
			if ac := &acs.Items[j]; ac.Name == string(st.Name) && ac.Spec.ControllerName == v1alpha1.KueueCheckControllerName {
				return ac, st, nil
			}
		}
	}
	return nil, nil, nil
}

// parameters reads the AdmissionCheck's LicenseCheckParameters: nil when it names none, or
// when what it names does not resolve.
func (r *WorkloadReconciler) parameters(ctx context.Context, ac *kueue.AdmissionCheck) (*v1alpha1.LicenseCheckParameters, error) {
	ref := ac.Spec.Parameters
	if ref == nil || !refersToParameters(ref) {
		return nil, nil
	}
	p := &v1alpha1.LicenseCheckParameters{}
	if err := r.Get(ctx, types.NamespacedName{Name: ref.Name}, p); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return p, nil
}

func (r *WorkloadReconciler) pool(ctx context.Context, c client.Reader, ns, name string, reqErr error) (*v1alpha1.LicensePool, error) {
	if reqErr != nil {
		return nil, nil
	}
	p := &v1alpha1.LicensePool{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get pool %s/%s: %w", ns, name, err)
	}
	return p, nil
}

// endOthers ends every session of the Workload but the current try's, and returns that one
// (nil when not created yet). Sessions of an earlier Workload of the same name are ended too.
func (r *WorkloadReconciler) endOthers(ctx context.Context, ns, name string, wl *kueue.Workload, current string) (*v1alpha1.SharedSession, error) {
	var list v1alpha1.SharedSessionList
	if err := r.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexOwnerWorkload: name}); err != nil {
		return nil, fmt.Errorf("list sessions of workload %s/%s: %w", ns, name, err)
	}
	var sess *v1alpha1.SharedSession
	for i := range list.Items {
		s := &list.Items[i]
		if s.Name == current && wl != nil && s.Labels[SessionLabel] == string(wl.UID) {
			sess = s
			continue
		}
		// The licences go back at once; the garbage collector deletes the session with the
		// Workload, and until then it is the record of the try.
		if err := heartbeat.End(ctx, r.Client, s); err != nil {
			return nil, fmt.Errorf("workload %s: %w", name, err)
		}
	}
	return sess, nil
}

func (r *WorkloadReconciler) createSession(ctx context.Context, wl *kueue.Workload, want request, name string) error {
	s := &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: wl.Namespace, Name: name,
			Labels: map[string]string{SessionLabel: string(wl.UID)},
			// Not the controller: Kueue's job integrations own Workloads as controllers, and
			// the session only follows the Workload's life (garbage collection on deletion).
			OwnerReferences: []metav1.OwnerReference{{APIVersion: kueue.SchemeGroupVersion.String(), Kind: "Workload",
				Name: wl.Name, UID: wl.UID, BlockOwnerDeletion: ptr.To(false)}},
		},
		Spec: v1alpha1.SharedSessionSpec{
			PoolName: want.pool, Holder: holderOf(wl), Count: want.count,
			// Kueue's priority orders the licence queue too, within the session's bounds.
			Priority: min(max(ptr.Deref(wl.Spec.Priority, 0), -1000000), 1000000),
		},
	}
	if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create session for workload %s/%s: %w", wl.Namespace, wl.Name, err)
	}
	return nil
}

// setCheck writes the check's new state when it changed. A merge patch carries the whole
// admissionChecks list (JSON merge patch replaces lists), so it is sent with the Workload's
// resourceVersion: a concurrent change by Kueue makes it fail and the Workload is read again.
func (r *WorkloadReconciler) setCheck(ctx context.Context, wl *kueue.Workload, check *kueue.AdmissionCheckState, v verdict) error {
	if check.State == v.state && check.Message == v.message {
		return nil
	}
	next := wl.DeepCopy()
	i := slices.IndexFunc(next.Status.AdmissionChecks, func(s kueue.AdmissionCheckState) bool { return s.Name == check.Name })
	st := &next.Status.AdmissionChecks[i]
	if st.State != v.state {
		st.LastTransitionTime = metav1.NewTime(r.Clock.Now())
	}
	st.State, st.Message = v.state, truncate(v.message, 32768)
	if err := r.Status().Patch(ctx, next, client.MergeFromWithOptions(wl, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("set check %s of workload %s/%s to %s: %w", check.Name, wl.Namespace, wl.Name, v.state, err)
	}
	return nil
}

// renew heartbeats the session for its Workload (see internal/heartbeat).
func (r *WorkloadReconciler) renew(ctx context.Context, s *v1alpha1.SharedSession, pool *v1alpha1.LicensePool) (ctrl.Result, error) {
	next, err := heartbeat.Renew(ctx, r.Client, s, pool, r.Clock.Now())
	return ctrl.Result{RequeueAfter: next}, err
}

// sessionName is the deterministic name of the session of the Workload's current try.
func sessionName(wl *kueue.Workload) string {
	name := fmt.Sprintf("wl-%s-%d", wl.Name, attempt(wl))
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:253-17] + "-" + hex.EncodeToString(sum[:8])
}

// holderOf names the Workload as the session's holder.
func holderOf(wl *kueue.Workload) string {
	return truncate("workload/"+wl.Name, 256)
}

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func refersToParameters(ref *kueue.AdmissionCheckParametersReference) bool {
	return ref.APIGroup == v1alpha1.GroupVersion.Group && ref.Kind == "LicenseCheckParameters"
}

// SetupWithManager watches Workloads that carry admission checks, and the sessions they own.
func (r *WorkloadReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SharedSession{}, indexOwnerWorkload, func(o client.Object) []string {
		return ownerWorkloads(o)
	}); err != nil {
		return err
	}
	checked := predicate.NewPredicateFuncs(func(o client.Object) bool {
		wl, ok := o.(*kueue.Workload)
		return ok && len(wl.Status.AdmissionChecks) > 0
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("kueue-workload").
		For(&kueue.Workload{}, builder.WithPredicates(checked)).
		Watches(&v1alpha1.SharedSession{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			var reqs []ctrl.Request
			for _, name := range ownerWorkloads(o) {
				reqs = append(reqs, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}})
			}
			return reqs
		})).
		Complete(r)
}

func ownerWorkloads(o client.Object) []string {
	if _, ok := o.GetLabels()[SessionLabel]; !ok {
		return nil
	}
	var names []string
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "Workload" && ref.APIVersion == kueue.SchemeGroupVersion.String() {
			names = append(names, ref.Name)
		}
	}
	return names
}
