// Package heartbeat keeps, on behalf of a holder that has no agent of its own (a gated Pod, a
// Kueue Workload), the SharedSession the operator took for it: renewed at a third of its pool's
// heartbeatTimeout, and ended when the holder is done.
package heartbeat

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// Renew writes the session's renewTime when a third of the pool's heartbeatTimeout has passed
// since the last one (or since its creation), and returns when to look again. pool may be nil
// (not found): the default timeout applies.
func Renew(ctx context.Context, c client.Client, s *v1alpha1.SharedSession, pool *v1alpha1.LicensePool, now time.Time) (time.Duration, error) {
	timeout := allocator.DefaultPolicy.HeartbeatTimeout
	if pool != nil {
		if t := pool.Spec.SessionPolicy.HeartbeatTimeout; t != nil && t.Duration > 0 {
			timeout = t.Duration
		}
	}
	interval := timeout / 3
	last := s.CreationTimestamp.Time
	if s.Status.RenewTime != nil {
		last = s.Status.RenewTime.Time
	}
	if due := last.Add(interval); now.Before(due) {
		return due.Sub(now), nil
	}
	body := fmt.Sprintf(`{"status":{"renewTime":%q}}`, metav1.NewMicroTime(now).UTC().Format(metav1.RFC3339Micro))
	if err := c.Status().Patch(ctx, s.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	return interval, nil
}

// End sets the session's spec.terminate, unless it is ended or ending already, or gone: its
// licences go back at once, and the record stays until its owner is deleted.
func End(ctx context.Context, c client.Client, s *v1alpha1.SharedSession) error {
	if s == nil || s.Spec.Terminate || s.Status.Phase == v1alpha1.SessionEnded {
		return nil
	}
	err := c.Patch(ctx, s.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`)))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("end session %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}
