package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// How long a pass waits before the pool is looked at again, when it has to.
const (
	// echoDelay: the answer to a write of the slow lane, or a part we created, has not come
	// back yet, and is a few milliseconds away.
	echoDelay = 5 * time.Millisecond
	// conflictDelay: a write lost an optimistic-concurrency race; the winner's write is on its
	// way to the cache.
	conflictDelay = 50 * time.Millisecond
	// cacheDelay: the ledger names a claimant the cache has not seen yet (another replica
	// granted it), or the pool exists but is not cached yet.
	cacheDelay = 100 * time.Millisecond
	// deadlineSlack: a deadline is looked at this much after it, rather than early, so that
	// it has passed when the pool is decided.
	deadlineSlack = 5 * time.Millisecond
)

// requeueAt asks to be called again just after the next deadline; zero means none.
func requeueAt(next, now time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), 0) + deadlineSlack}
}

// earliest is the earlier of two deadlines; zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// waitOrFail looks at the pool again after wait, or, on an error, hands the error to the work
// queue, which retries with backoff: controller-runtime ignores a RequeueAfter that comes with an
// error, and warns about it.
func waitOrFail(wait time.Duration, err error) (ctrl.Result, error) {
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// retryOnConflict turns a lost optimistic-concurrency race (or an object deleted meanwhile)
// into a quick retry logged at debug: the cache will bring the winner's write, and the next
// pass decides on it. Other errors go back to the work queue, which backs off.
func retryOnConflict(ctx context.Context, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
		log.FromContext(ctx).V(1).Info("lost a race; deciding again", "reason", err.Error())
		return ctrl.Result{RequeueAfter: conflictDelay}, nil
	}
	return ctrl.Result{}, err
}
