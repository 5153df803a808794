package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// product is the product of every pool the benchmark creates.
const product = "bench"

// longHeartbeat keeps sessions alive for a whole run when the measurement is not about expiry.
const longHeartbeat = time.Hour

// microFormat is how renewTime and the operator's times are written: RFC 3339 with exactly six
// fractional digits, as the CRD's pattern requires.
const microFormat = "2006-01-02T15:04:05.000000Z07:00"

func createNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// pool is a LicensePool with limit shared licences (nil: unlimited) and policy, whose
// heartbeatTimeout defaults to longHeartbeat.
func pool(ns, name string, limit *int32, policy v1alpha1.SessionPolicy) *v1alpha1.LicensePool {
	if policy.HeartbeatTimeout == nil {
		policy.HeartbeatTimeout = &metav1.Duration{Duration: longHeartbeat}
	}
	return &v1alpha1.LicensePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.LicensePoolSpec{Product: product, ConcurrentSessions: limit, SessionPolicy: policy},
	}
}

func limit(n int) *int32 { return ptr.To(int32(n)) }

// session asks pool for a licence. Names carry a zero-padded sequence number, so that
// sessions created within the same second (creationTimestamp has one-second resolution) queue
// in the order they were created.
func session(ns, pool string, seq int) *v1alpha1.SharedSession {
	name := sessionName(pool, seq)
	return &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.SharedSessionSpec{PoolName: pool, Holder: name},
	}
}

func sessionName(pool string, seq int) string { return fmt.Sprintf("%s-%07d", pool, seq) }

// heartbeat renews a session as an agent does: a merge patch of status.renewTime alone,
// through the status subresource.
func heartbeat(ctx context.Context, c client.Client, ns, name string, at time.Time) error {
	s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := fmt.Appendf(nil, `{"status":{"renewTime":%q}}`, at.UTC().Format(microFormat))
	return c.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, patch))
}

// emptyNamespace deletes every session, seat, pool and ledger part in ns, in parallel, so that the operator's
// cache does not carry one measurement's objects into the next. (Namespaces themselves never
// finish deleting on a control plane without the namespace controller.)
func emptyNamespace(ctx context.Context, c client.Client, ns string) error {
	var sessions v1alpha1.SharedSessionList
	if err := c.List(ctx, &sessions, client.InNamespace(ns)); err != nil {
		return err
	}
	var pools v1alpha1.LicensePoolList
	if err := c.List(ctx, &pools, client.InNamespace(ns)); err != nil {
		return err
	}
	var seats v1alpha1.SeatAssignmentList
	if err := c.List(ctx, &seats, client.InNamespace(ns)); err != nil {
		return err
	}
	// A pool's ledger parts go with it through the garbage collector, which this control
	// plane does not run.
	var parts v1alpha1.LicenseLedgerList
	if err := c.List(ctx, &parts, client.InNamespace(ns)); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	del := func(obj client.Object) {
		g.Go(func() error {
			if err := c.Delete(gctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s/%s: %w", ns, obj.GetName(), err)
			}
			return nil
		})
	}
	for i := range sessions.Items {
		del(&sessions.Items[i])
	}
	for i := range pools.Items {
		del(&pools.Items[i])
	}
	for i := range seats.Items {
		del(&seats.Items[i])
	}
	for i := range parts.Items {
		del(&parts.Items[i])
	}
	return g.Wait()
}

// createSessions creates sessions in parallel (32 at a time).
func createSessions(ctx context.Context, c client.Client, sessions []*v1alpha1.SharedSession) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, s := range sessions {
		g.Go(func() error {
			if err := c.Create(gctx, s); err != nil {
				return fmt.Errorf("create session %s/%s: %w", s.Namespace, s.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}
