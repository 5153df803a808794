package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// newFakeClient is a fake API server. Its watches end with their context, as a real API
// server's do (the fake's stay open, and the lease would wait for them forever).
func newFakeClient(t *testing.T) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1alpha1.SharedSession{}).
		WithInterceptorFuncs(interceptor.Funcs{Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
			w, err := c.Watch(ctx, list, opts...)
			if err == nil {
				go func() { <-ctx.Done(); w.Stop() }()
			}
			return w, err
		}}).Build()
}

// TestAcquireCount: Request.Count becomes the session's spec.count; left at 0 it is left out,
// for the API server's default of 1.
func TestAcquireCount(t *testing.T) {
	for _, count := range []int32{0, 1, 4, v1alpha1.MaxSessionCount} {
		c := newFakeClient(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lease, err := Acquire(ctx, c, Request{Namespace: "acme", Pool: "solver", Holder: "gina", Name: "run", Count: count},
			Options{HeartbeatInterval: time.Hour})
		if err != nil {
			cancel()
			t.Fatalf("count %d: %v", count, err)
		}
		s := &v1alpha1.SharedSession{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "acme", Name: "run"}, s); err != nil {
			t.Fatal(err)
		}
		if s.Spec.Count != count {
			t.Errorf("Count %d: spec.count = %d", count, s.Spec.Count)
		}
		if err := lease.Release(ctx, Delete); err != nil {
			t.Errorf("release: %v", err)
		}
		cancel()
	}
}

// TestAcquireCountOutOfRange: a count the API server would refuse is refused before anything
// is created, saying what is allowed.
func TestAcquireCountOutOfRange(t *testing.T) {
	for _, count := range []int32{-1, v1alpha1.MaxSessionCount + 1} {
		c := newFakeClient(t)
		_, err := Acquire(context.Background(), c, Request{Namespace: "acme", Pool: "solver", Holder: "gina", Count: count}, Options{HeartbeatInterval: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "from 1 to 1024 licences") {
			t.Errorf("count %d: err = %v, want one that gives the range", count, err)
		}
		var list v1alpha1.SharedSessionList
		if err := c.List(context.Background(), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Errorf("count %d: %d sessions created, want none", count, len(list.Items))
		}
	}
}
