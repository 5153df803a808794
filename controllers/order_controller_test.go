package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecideOrder(t *testing.T) {
	o := &v1alpha1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-1", Generation: 3},
		Spec: v1alpha1.CustomerOrderSpec{Customer: "acme", ExpiresAt: mt(time.Hour), Items: []v1alpha1.OrderItem{
			{Product: "rs", Seats: 5}, {Product: "vd", PoolName: "video", ConcurrentSessions: 2}}}}
	pool := func(product string) *v1alpha1.LicensePool {
		return &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{Product: product}}
	}
	tests := []struct {
		name       string
		world      orderWorld
		wantPhase  v1alpha1.OrderPhase
		wantReason string
		wantCreate []string
	}{
		{"missing namespace", orderWorld{}, v1alpha1.OrderActive, "CustomerNotFound", nil},
		{"creates missing pools", orderWorld{namespaceFound: true, pools: map[string]*v1alpha1.LicensePool{"rs": nil, "video": pool("vd")}}, v1alpha1.OrderActive, "Fulfilled", []string{"rs"}},
		{"another product", orderWorld{namespaceFound: true, pools: map[string]*v1alpha1.LicensePool{"rs": pool("other"), "video": nil}}, v1alpha1.OrderInvalid, "ProductMismatch", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOrder(o, tc.world, t0)
			var created []string
			for _, p := range d.create {
				created = append(created, p.Name)
				if p.Labels[OrderCreatedLabel] != "po-1" || *p.Spec.Seats != 0 || len(p.OwnerReferences) != 0 {
					t.Errorf("created pool %+v", p)
				}
			}
			var reason string
			for _, c := range d.status.Conditions {
				if c.Type == v1alpha1.ConditionFulfilled {
					reason = c.Reason
				}
				if c.ObservedGeneration != 3 {
					t.Errorf("condition %s observes generation %d", c.Type, c.ObservedGeneration)
				}
			}
			if d.status.Phase != tc.wantPhase || reason != tc.wantReason || !cmp.Equal(created, tc.wantCreate) {
				t.Errorf("got phase %s reason %s create %v", d.status.Phase, reason, created)
			}
			if !d.next.Equal(t0.Add(time.Hour)) {
				t.Errorf("next = %v, want the expiry", d.next)
			}
		})
	}
}
