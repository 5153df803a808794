package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// A write the API server refuses for a reason that retrying cannot fix (the object is too
// large, invalid, or an admission policy forbids it) must not stall a pool in silence. The pass
// that meets one:
//
//   - sets the pool's Ready condition False (reason WriteRefused) with what was refused and
//     why, and records a Warning Event;
//   - when the refused write was the ledger, so that no grant of the pass landed, shows each
//     claimant it would have granted as waiting (Waiting, or a Pending seat) with the same why;
//   - backs off: the pool's passes wait a second, then twice as long each time, up to
//     maxRefusalBackoff, instead of retrying hot. The first pass whose writes land ends it, and
//     its status replaces the condition.
const (
	refusalBackoff    = time.Second
	maxRefusalBackoff = 2 * time.Minute
)

// writeError is a write that failed, and what it was writing.
type writeError struct {
	obj client.Object
	op  string
	err error
}

func (e *writeError) Error() string {
	return fmt.Sprintf("%s of %s %s: %v", e.op, kindOf(e.obj), client.ObjectKeyFromObject(e.obj), e.err)
}

func (e *writeError) Unwrap() error { return e.err }

// refusedForGood reports whether the API server refused a write in a way retrying cannot fix.
func refusedForGood(err error) bool {
	return apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsInvalid(err) ||
		apierrors.IsForbidden(err) || apierrors.IsBadRequest(err)
}

// refusalWhy describes a refused write for a licence administrator: what could not be saved, and
// why, in the API server's words.
func refusalWhy(err error) string {
	why := "refused"
	switch {
	case apierrors.IsRequestEntityTooLargeError(err):
		why = "too large"
	case apierrors.IsForbidden(err):
		why = "not allowed"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		why = "not valid"
	}
	cause := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		cause = status.Status().Message
	}
	what := "a write"
	var we *writeError
	if errors.As(err, &we) {
		what = describeWrite(we.obj)
	}
	return fmt.Sprintf("the API server refused %s (%s): %s", what, why, strings.TrimSpace(cause))
}

// describeWrite names what a write saves, in the words of the pool's administrator.
func describeWrite(obj client.Object) string {
	switch o := obj.(type) {
	case *v1alpha1.LicensePool:
		return "the pool's status, which records who holds its licences"
	case *v1alpha1.LicenseLedger:
		return fmt.Sprintf("part %d of the pool's ledger (LicenseLedger %s), which records who holds its licences", o.Spec.Part, o.Name)
	default:
		return fmt.Sprintf("the status of %s %s", kindOf(obj), obj.GetName())
	}
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *v1alpha1.LicensePool:
		return "LicensePool"
	case *v1alpha1.SeatAssignment:
		return "SeatAssignment"
	case *v1alpha1.SharedSession:
		return "SharedSession"
	case *v1alpha1.LicenseLedger:
		return "LicenseLedger"
	default:
		return fmt.Sprintf("%T", obj)
	}
}

// refused handles a write the API server refused for good: it says so on the pool and on the
// claimants left waiting, and backs the pool off. Its own writes are best effort: the refusal
// may well cover them too, and the Event and the log still tell.
func (r *PoolReconciler) refused(ctx context.Context, snap *snapshot, plan writePlan, err error, now time.Time) ctrl.Result {
	wait := r.memory.refused(snap.key, now)
	why := refusalWhy(err)
	log.FromContext(ctx).Error(err, "the API server refused a write; backing off", "retryIn", wait.String())
	metrics.WriteRefused(snap.key.Namespace, snap.key.Name)
	if snap.pool == nil {
		return ctrl.Result{RequeueAfter: wait}
	}
	msg := why + "; licences that are free are not handed out until it is accepted, and the operator tries again with backoff"
	if r.Recorder != nil {
		r.Recorder.Eventf(snap.pool, nil, "Warning", v1alpha1.ReasonWriteRefused, "Reconcile", "%s", msg)
	}
	next := snap.pool.DeepCopy()
	setCondition(&next.Status.Conditions, v1alpha1.ConditionReady, false, v1alpha1.ReasonWriteRefused, msg, snap.pool.Generation)
	if !conditionsEqual(next.Status.Conditions, snap.pool.Status.Conditions) {
		if err := r.writeStatus(ctx, statusWrite{orig: snap.pool, next: next}); err != nil {
			log.FromContext(ctx).V(1).Info("could not say on the pool that a write was refused", "reason", err.Error())
		}
	}
	var we *writeError
	if errors.As(err, &we) && ledgerWrite(we.obj) {
		// No grant of this pass landed: the claimants it would have granted say why they wait.
		waiting := "a licence is free, but " + why + "; waiting until it is accepted"
		var writes []statusWrite
		for _, w := range plan.checked {
			if w.grant {
				writes = append(writes, heldBack(w, waiting))
			}
		}
		if err := r.writeClaimants(ctx, snap.pool, writes); err != nil {
			log.FromContext(ctx).V(1).Info("could not say on a claimant why it waits", "reason", err.Error())
		}
	}
	return ctrl.Result{RequeueAfter: wait}
}

// ledgerWrite reports whether obj is where the ledger is kept, so that its refusal stopped
// every grant of the pass.
func ledgerWrite(obj client.Object) bool {
	switch obj.(type) {
	case *v1alpha1.LicensePool, *v1alpha1.LicenseLedger:
		return true
	}
	return false
}

// heldBack turns a planned grant into a status that waits, saying why.
func heldBack(w statusWrite, why string) statusWrite {
	next := w.orig.DeepCopyObject().(client.Object)
	switch o := next.(type) {
	case *v1alpha1.SeatAssignment:
		o.Status.ObservedGeneration = o.Generation
		o.Status.Phase, o.Status.Reason, o.Status.Message, o.Status.BoundAt = v1alpha1.SeatPending, v1alpha1.SeatReasonWriteRefused, why, nil
		setCondition(&o.Status.Conditions, v1alpha1.ConditionBound, false, v1alpha1.ReasonWriteRefused, why, o.Generation)
		setCondition(&o.Status.Conditions, v1alpha1.ConditionReady, false, v1alpha1.ReasonWriteRefused, why, o.Generation)
	case *v1alpha1.SharedSession:
		planned := w.next.(*v1alpha1.SharedSession).Status
		o.Status.ObservedGeneration = o.Generation
		o.Status.Phase, o.Status.Message, o.Status.QueuePosition = v1alpha1.SessionWaiting, why, 0
		o.Status.GrantedAt, o.Status.EndsAt, o.Status.PreemptedBy = nil, nil, ""
		o.Status.ObservedState, o.Status.StateChangedAt = planned.ObservedState, planned.StateChangedAt
		setCondition(&o.Status.Conditions, v1alpha1.ConditionGranted, false, v1alpha1.ReasonWriteRefused, why, o.Generation)
		setCondition(&o.Status.Conditions, v1alpha1.ConditionReady, false, v1alpha1.ReasonWriteRefused, why, o.Generation)
		removeCondition(&o.Status.Conditions, v1alpha1.ConditionOverdraft)
	}
	return statusWrite{orig: w.orig, next: next}
}

// conditionsEqual compares conditions by type, status, reason and message.
func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		o := meta.FindStatusCondition(b, c.Type)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message {
			return false
		}
	}
	return true
}
