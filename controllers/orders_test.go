package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestCapacityFor(t *testing.T) {
	order := func(name string, mut func(*v1alpha1.CustomerOrder), items ...v1alpha1.OrderItem) v1alpha1.CustomerOrder {
		o := v1alpha1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.CustomerOrderSpec{Customer: "acme", Items: items}}
		if mut != nil {
			mut(&o)
		}
		return o
	}
	item := func(pool string, seats, sessions int32) v1alpha1.OrderItem {
		return v1alpha1.OrderItem{Product: "rs", PoolName: pool, Seats: seats, ConcurrentSessions: sessions}
	}
	products := map[string]string{"p": "rs", "video": "video-desk"}
	productOf := func(n string) (string, bool) { p, ok := products[n]; return p, ok }
	orders := []v1alpha1.CustomerOrder{
		order("a", nil, item("p", 2, 1)),
		order("b", func(o *v1alpha1.CustomerOrder) { o.Spec.ExpiresAt = mt(time.Hour) }, item("p", 3, 0), item("new", 1, 1)),
		order("later", func(o *v1alpha1.CustomerOrder) { o.Spec.StartsAt = mt(2 * time.Hour) }, item("p", 10, 10)),
		order("over", func(o *v1alpha1.CustomerOrder) { o.Spec.ExpiresAt = mt(-time.Hour) }, item("p", 10, 10)),
		order("gone", func(o *v1alpha1.CustomerOrder) { o.Spec.Cancelled = true }, item("p", 10, 10)),
		order("invalid", nil, item("p", 10, 10), item("video", 1, 1)),
		order("elsewhere", func(o *v1alpha1.CustomerOrder) { o.Spec.Customer = "other" }, item("p", 10, 10)),
	}
	got := capacityFor(orders, "acme", "p", "rs", t0, productOf)
	want := orderCapacity{
		orders: []v1alpha1.PoolOrder{{Name: "a", Seats: 2, ConcurrentSessions: 1}, {Name: "b", Seats: 3, ExpiresAt: mt(time.Hour)}},
		seats:  5, sessions: 1,
		changes: []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(orderCapacity{})); diff != "" {
		t.Errorf("capacity (-want +got):\n%s", diff)
	}
	if l := addLimit(nil, 5); l != nil {
		t.Errorf("an unlimited pool stays unlimited, got %d", *l)
	}
	if l := addLimit(ptr.To[int32](1), 5); *l != 6 {
		t.Errorf("limits add up, got %d", *l)
	}
}

func TestOrderPhase(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.CustomerOrderSpec
		want v1alpha1.OrderPhase
	}{
		{"unassigned", v1alpha1.CustomerOrderSpec{}, v1alpha1.OrderUnassigned},
		{"active", v1alpha1.CustomerOrderSpec{Customer: "acme"}, v1alpha1.OrderActive},
		{"scheduled", v1alpha1.CustomerOrderSpec{Customer: "acme", StartsAt: mt(time.Second)}, v1alpha1.OrderScheduled},
		{"starts now", v1alpha1.CustomerOrderSpec{Customer: "acme", StartsAt: mt(0)}, v1alpha1.OrderActive},
		{"expires now", v1alpha1.CustomerOrderSpec{Customer: "acme", ExpiresAt: mt(0)}, v1alpha1.OrderExpired},
		{"cancelled wins", v1alpha1.CustomerOrderSpec{Customer: "acme", Cancelled: true, ExpiresAt: mt(-time.Hour)}, v1alpha1.OrderCancelled},
		{"cancelled before assignment", v1alpha1.CustomerOrderSpec{Cancelled: true}, v1alpha1.OrderCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := orderPhase(&v1alpha1.CustomerOrder{Spec: tc.spec}, t0); got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}
