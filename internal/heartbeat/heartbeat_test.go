package heartbeat

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestRenew(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pool := func(timeout time.Duration) *v1alpha1.LicensePool {
		p := &v1alpha1.LicensePool{}
		p.Spec.SessionPolicy.HeartbeatTimeout = &metav1.Duration{Duration: timeout}
		return p
	}
	tests := []struct {
		name      string
		renewed   time.Duration // renewTime before t0; 0: never renewed, created a minute ago
		pool      *v1alpha1.LicensePool
		wantNext  time.Duration
		wantWrite bool
	}{
		{"renewed 10s ago, default 60s timeout: not due, due in 10s", 10 * time.Second, nil, 10 * time.Second, false},
		{"renewed 20s ago, default timeout: renewed, next in 20s", 20 * time.Second, nil, 20 * time.Second, true},
		{"renewed 10s ago, pool timeout 30s: renewed, next in 10s", 10 * time.Second, pool(30 * time.Second), 10 * time.Second, true},
		{"never renewed, created a minute ago: renewed", 0, nil, 20 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := v1alpha1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "s", CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute))}}
			if tc.renewed > 0 {
				s.Status.RenewTime = &metav1.MicroTime{Time: t0.Add(-tc.renewed)}
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(s).WithStatusSubresource(s).Build()
			next, err := Renew(context.Background(), c, s, tc.pool, t0)
			if err != nil || next != tc.wantNext {
				t.Fatalf("Renew = %v, %v; want %v", next, err, tc.wantNext)
			}
			var got v1alpha1.SharedSession
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil {
				t.Fatal(err)
			}
			wrote := got.Status.RenewTime != nil && got.Status.RenewTime.Time.Equal(t0)
			if wrote != tc.wantWrite {
				t.Errorf("renewTime written: %v, want %v (renewTime %v)", wrote, tc.wantWrite, got.Status.RenewTime)
			}
		})
	}
}

func TestEnd(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "s"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(s).Build()
	if err := End(context.Background(), c, s); err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.SharedSession
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), &got); err != nil || !got.Spec.Terminate {
		t.Errorf("after End: terminate %v (%v), want true", got.Spec.Terminate, err)
	}
	if err := End(context.Background(), c, &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "gone"}}); err != nil {
		t.Errorf("ending a session that is gone: %v", err)
	}
}
