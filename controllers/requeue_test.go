package controllers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRequeueAt(t *testing.T) {
	if got := requeueAt(time.Time{}, t0); got.RequeueAfter != 0 {
		t.Errorf("no deadline: got %v", got)
	}
	if got := requeueAt(t0.Add(time.Second), t0).RequeueAfter; got != time.Second+5*time.Millisecond {
		t.Errorf("future deadline: got %v", got)
	}
	if got := requeueAt(t0.Add(-time.Second), t0).RequeueAfter; got <= 0 || got > 10*time.Millisecond {
		t.Errorf("a passed deadline is acted on at once: got %v", got)
	}
}

// TestRetryOnConflict: a lost race (409, or the object gone) is a quick retry with no error, so
// controller-runtime logs no reconciler error and no stack trace; anything else stays an error.
func TestRetryOnConflict(t *testing.T) {
	gr := schema.GroupResource{Group: "licensing.seatkeeper.io", Resource: "customerorders"}
	conflict := apierrors.NewConflict(gr, "o", errors.New("the object has been modified"))
	tests := []struct {
		name    string
		err     error
		requeue time.Duration
		wantErr bool
	}{
		{name: "conflict", err: conflict, requeue: 50 * time.Millisecond},
		{name: "wrapped conflict, as writeStatus returns it", err: fmt.Errorf("patch status of order o: %w", conflict), requeue: 50 * time.Millisecond},
		{name: "gone meanwhile", err: apierrors.NewNotFound(gr, "o"), requeue: 50 * time.Millisecond},
		{name: "another error", err: errors.New("connection refused"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := retryOnConflict(context.Background(), tt.err)
			if (err != nil) != tt.wantErr || res.RequeueAfter != tt.requeue {
				t.Errorf("retryOnConflict(%v) = %+v, %v; want RequeueAfter %v, error %t", tt.err, res, err, tt.requeue, tt.wantErr)
			}
		})
	}
}

// TestReconcileErrorsCarryNoRequeue: a read that fails is an error for the work queue to retry
// with backoff, never an error with a RequeueAfter (which controller-runtime ignores, warning).
func TestReconcileErrorsCarryNoRequeue(t *testing.T) {
	down := errors.New("etcd is down")
	failGet := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		return down
	}}
	tests := []struct {
		name          string
		cache, server client.WithWatch
	}{
		{"the ledger's entry cannot be read",
			fakeAPI(t, interceptor.Funcs{}, withSessionLedger(testPool("p", 1), "x")),
			fakeAPI(t, failGet)},
		{"the missing pool cannot be confirmed",
			fakeAPI(t, interceptor.Funcs{}, testSession("s", "p")),
			fakeAPI(t, failGet)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := testReconciler(tc.cache, tc.server)
			got, err := r.Reconcile(context.Background(), poolKey("p"))
			if !errors.Is(err, down) || got != (ctrl.Result{}) {
				t.Errorf("Reconcile = %+v, %v; want an empty result with the error", got, err)
			}
		})
	}
}
