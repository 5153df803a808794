package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// writeParallelism bounds the writes (and reads around the cache) one pool's pass sends at once.
const writeParallelism = 16

// apply carries out a plan in the ledger's order (see ledger.go), and returns when a throttled
// or held-back write will be due. It stops at the first error; what landed stays landed, and
// the next pass redoes only what did not.
func (r *PoolReconciler) apply(ctx context.Context, snap *snapshot, plan writePlan, now time.Time) (time.Time, error) {
	// 1. Revocations first: a claimant stops showing a licence before the ledger frees it.
	if err := r.writeClaimants(ctx, snap.pool, plan.revoke); err != nil {
		return time.Time{}, err
	}
	// 2. The ledger, with optimistic concurrency on the pool.
	if err := r.writePool(ctx, snap.pool, plan); err != nil {
		return time.Time{}, err
	}
	// 3. Grants, ends decided on the ledger, and everything else.
	if err := r.writeClaimants(ctx, snap.pool, plan.checked); err != nil {
		return time.Time{}, err
	}
	if err := r.writeClaimants(ctx, snap.pool, plan.other); err != nil {
		return time.Time{}, err
	}
	next := plan.announceAt
	for _, t := range []struct {
		writes []statusWrite
		key    refreshKey
		every  time.Duration
	}{
		{plan.head, refreshKey{pool: snap.key}, headRefreshEvery},
		{plan.tail, refreshKey{pool: snap.key, tail: true}, tailRefreshEvery},
	} {
		at, err := r.writeThrottled(ctx, snap.pool, t.writes, t.key, t.every, now)
		if err != nil {
			return time.Time{}, err
		}
		next = earliest(next, at)
	}
	return next, r.deleteExpired(ctx, plan.remove)
}

// writeClaimants patches the claimants' status in parallel, each with optimistic concurrency.
// The patch holds only what changed, so the holder's renewTime is never overwritten. A conflict
// on one write does not cancel the others: what lands stays landed, and is reported even when
// another write failed, since the next pass redoes only the failed ones and would not report
// these again.
func (r *PoolReconciler) writeClaimants(ctx context.Context, pool *v1alpha1.LicensePool, writes []statusWrite) error {
	var g errgroup.Group
	g.SetLimit(writeParallelism)
	var mu sync.Mutex
	var landed []note
	for _, w := range writes {
		g.Go(func() error {
			if err := r.writeStatus(ctx, w); err != nil {
				return err
			}
			mu.Lock()
			landed = append(landed, w.notes...)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	r.report(pool, landed)
	return err
}

// writeStatus patches one object's status with optimistic concurrency, and remembers the write.
func (r *PoolReconciler) writeStatus(ctx context.Context, w statusWrite) error {
	patch := client.MergeFromWithOptions(w.orig, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, w.next, patch); err != nil {
		return fmt.Errorf("patch status of %T %s: %w", w.next, client.ObjectKeyFromObject(w.next), err)
	}
	r.memory.wrote(w.orig.GetResourceVersion(), w.next, r.Clock.Now())
	return nil
}

// writePool commits the ledger and usage to the pool. When nothing changed but grants are
// about to be written, it still sends the pool's resourceVersion, so that a decision made on a
// stale ledger fails with a conflict instead of granting.
func (r *PoolReconciler) writePool(ctx context.Context, pool *v1alpha1.LicensePool, plan writePlan) error {
	switch {
	case plan.pool != nil:
		if err := r.writeStatus(ctx, *plan.pool); err != nil {
			return err
		}
		r.report(plan.pool.next.(*v1alpha1.LicensePool), plan.pool.notes)
	case plan.checkLedger:
		check := []byte(fmt.Sprintf(`{"metadata":{"resourceVersion":%q}}`, pool.ResourceVersion))
		if err := r.Status().Patch(ctx, pool.DeepCopy(), client.RawPatch(types.MergePatchType, check)); err != nil {
			return fmt.Errorf("check ledger of pool %s: %w", client.ObjectKeyFromObject(pool), err)
		}
	}
	return nil
}

// writeThrottled writes updates that only move numbers if the pool's refresh of them is due
// (at most once per every); if it is not, it returns when it will be.
func (r *PoolReconciler) writeThrottled(ctx context.Context, pool *v1alpha1.LicensePool, writes []statusWrite, key refreshKey, every time.Duration, now time.Time) (time.Time, error) {
	if len(writes) == 0 {
		return time.Time{}, nil
	}
	if due, at := r.memory.due(key, now, every); !due {
		return at, nil
	}
	if err := r.writeClaimants(ctx, pool, writes); err != nil {
		return time.Time{}, err
	}
	r.memory.refreshedAt(key, now)
	return time.Time{}, nil
}

// deleteExpired deletes ended sessions past their retention, if they are still what was seen.
func (r *PoolReconciler) deleteExpired(ctx context.Context, sessions []*v1alpha1.SharedSession) error {
	for _, s := range sessions {
		uid, rv := s.UID, s.ResourceVersion
		err := r.Delete(ctx, s, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete ended session %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}
