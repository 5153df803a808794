// Package podgate lets batch pods queue for a shared licence with no sidecar: a gated Pod gets
// a SharedSession, and its scheduling gate is removed once the pool grants it. It shares
// nothing with the pool controller but the API: the session is granted like any other.
package podgate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/heartbeat"
)

// SessionLabel marks a SharedSession taken for a gated Pod; its value is the Pod's name.
const SessionLabel = "licensing.seatkeeper.io/pod"

// Reconciler lets batch pods queue for a shared licence with no sidecar. A Pod with the
// scheduling gate licensing.seatkeeper.io/license and the annotation
// licensing.seatkeeper.io/pool gets a SharedSession owned by it (holder: the Pod's name),
// for as many licences as the annotation licensing.seatkeeper.io/licenses says (default 1);
// the gate is removed once the session is granted, so the scheduler only then places the Pod.
// The reconciler renews the session's heartbeat for the Pod while it runs, and ends the session
// when the Pod succeeds, fails or is deleted. Pods without the gate are untouched.
type Reconciler struct {
	client.Client
	Clock    clock.PassiveClock
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=licensing.seatkeeper.io,resources=sharedsessions/status,verbs=patch

// Reconcile takes, renews and gives back the licence of one gated Pod.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sess, err := r.session(ctx, req.Namespace, podSessionName(req.Name))
	if err != nil {
		return ctrl.Result{}, err
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, req.NamespacedName, pod); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get pod %s: %w", req.NamespacedName, err)
		}
		pod = nil
	}
	if sess != nil && !ownedBy(sess, pod) {
		// The Pod is gone (or is another Pod of that name): its licence goes back. In a real
		// cluster the garbage collector also deletes the session; ending it first frees the
		// licence at once and keeps the record until retention.
		return ctrl.Result{}, heartbeat.End(ctx, r.Client, sess)
	}
	if pod == nil || (!hasGate(pod) && sess == nil) {
		return ctrl.Result{}, nil
	}
	if finished(pod) {
		return ctrl.Result{}, heartbeat.End(ctx, r.Client, sess)
	}
	if sess == nil {
		return ctrl.Result{}, r.createSession(ctx, pod)
	}
	switch sess.Status.Phase {
	case v1alpha1.SessionEnded:
		if hasGate(pod) {
			r.event(pod, corev1.EventTypeWarning, "LicenceDenied", "Gate", fmt.Sprintf("session %s ended (%s): %s; the pod stays gated", sess.Name, sess.Status.EndReason, sess.Status.Message))
		}
		return ctrl.Result{}, nil
	case v1alpha1.SessionActive:
		if hasGate(pod) {
			if err := r.removeGate(ctx, pod); err != nil {
				return ctrl.Result{}, err
			}
			r.event(pod, corev1.EventTypeNormal, "LicenceGranted", "Ungate", fmt.Sprintf("session %s holds a licence of pool %s; the pod may be scheduled", sess.Name, sess.Spec.PoolName))
		}
	}
	return r.renew(ctx, sess)
}

func (r *Reconciler) session(ctx context.Context, ns, name string) (*v1alpha1.SharedSession, error) {
	s := &v1alpha1.SharedSession{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get session %s/%s: %w", ns, name, err)
	}
	return s, nil
}

func (r *Reconciler) createSession(ctx context.Context, pod *corev1.Pod) error {
	pool := pod.Annotations[v1alpha1.PodPoolAnnotation]
	if pool == "" {
		r.event(pod, corev1.EventTypeWarning, "MissingPool", "Gate", fmt.Sprintf("the pod has the %s scheduling gate but no %s annotation naming the pool; it stays gated", v1alpha1.PodSchedulingGate, v1alpha1.PodPoolAnnotation))
		return nil
	}
	count, err := licensesOf(pod)
	if err != nil {
		r.event(pod, corev1.EventTypeWarning, "InvalidLicenses", "Gate", fmt.Sprintf("%v; the pod stays gated", err))
		return nil
	}
	s := &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: pod.Namespace, Name: podSessionName(pod.Name),
			Labels: map[string]string{SessionLabel: pod.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
				Controller: ptr.To(true)}},
		},
		Spec: v1alpha1.SharedSessionSpec{PoolName: pool, Holder: pod.Name, Count: count},
	}
	if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create session for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	what := "a shared licence"
	if count > 1 {
		what = fmt.Sprintf("%d shared licences", count)
	}
	r.event(pod, corev1.EventTypeNormal, "LicenceRequested", "Gate", fmt.Sprintf("asked pool %s for %s (session %s)", pool, what, s.Name))
	return nil
}

// licensesOf reads how many licences the pod asks for: the licenses annotation, 1 without it.
func licensesOf(pod *corev1.Pod) (int32, error) {
	v, ok := pod.Annotations[v1alpha1.PodLicensesAnnotation]
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > v1alpha1.MaxSessionCount {
		return 0, fmt.Errorf("annotation %s is %q: it must be a whole number of licences from 1 to %d, e.g. \"4\"", v1alpha1.PodLicensesAnnotation, v, v1alpha1.MaxSessionCount)
	}
	return int32(n), nil
}

// removeGate drops seatkeeper's scheduling gate and keeps any other.
func (r *Reconciler) removeGate(ctx context.Context, pod *corev1.Pod) error {
	next := pod.DeepCopy()
	next.Spec.SchedulingGates = slices.DeleteFunc(next.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool {
		return g.Name == v1alpha1.PodSchedulingGate
	})
	if err := r.Patch(ctx, next, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("remove scheduling gate of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// renew heartbeats the session for the Pod (see internal/heartbeat).
func (r *Reconciler) renew(ctx context.Context, s *v1alpha1.SharedSession) (ctrl.Result, error) {
	pool := &v1alpha1.LicensePool{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.PoolName}, pool); err != nil {
		pool = nil // the default heartbeatTimeout applies
	}
	next, err := heartbeat.Renew(ctx, r.Client, s, pool, r.Clock.Now())
	return ctrl.Result{RequeueAfter: next}, err
}

func (r *Reconciler) event(pod *corev1.Pod, typ, reason, action, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, typ, reason, action, "%s", msg)
	}
}

// podSessionName is the deterministic name of a Pod's session.
func podSessionName(pod string) string {
	name := "pod-" + pod
	if len(name) > 253 {
		name = name[:253]
	}
	return name
}

func hasGate(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == v1alpha1.PodSchedulingGate })
}

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || !pod.DeletionTimestamp.IsZero()
}

func ownedBy(s *v1alpha1.SharedSession, pod *corev1.Pod) bool {
	return pod != nil && slices.ContainsFunc(s.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == pod.UID })
}

// SetupWithManager watches Pods that carry the gate or the pool annotation, and the sessions
// taken for Pods.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	gated := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pod, ok := o.(*corev1.Pod)
		return ok && (hasGate(pod) || pod.Annotations[v1alpha1.PodPoolAnnotation] != "")
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("podgate").
		For(&corev1.Pod{}, builder.WithPredicates(gated)).
		Watches(&v1alpha1.SharedSession{}, handler.EnqueueRequestsFromMapFunc(podOfSession)).
		Complete(r)
}

func podOfSession(_ context.Context, o client.Object) []ctrl.Request {
	pod, ok := o.GetLabels()[SessionLabel]
	if !ok {
		return nil
	}
	return []ctrl.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: pod}}}
}
