package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// orderPhase says where an order stands at time now, before pools are looked at: Invalid
// (a product mismatch) is decided by whoever sees the pool.
func orderPhase(o *v1alpha1.CustomerOrder, now time.Time) v1alpha1.OrderPhase {
	switch {
	case o.Spec.Cancelled:
		return v1alpha1.OrderCancelled
	case o.Spec.Customer == "":
		return v1alpha1.OrderUnassigned
	case o.Spec.ExpiresAt != nil && !now.Before(o.Spec.ExpiresAt.Time):
		return v1alpha1.OrderExpired
	case o.Spec.StartsAt != nil && now.Before(o.Spec.StartsAt.Time):
		return v1alpha1.OrderScheduled
	}
	return v1alpha1.OrderActive
}

// orderCapacity is what the active orders add to one pool, and when that next changes.
type orderCapacity struct {
	orders   []v1alpha1.PoolOrder
	seats    int32
	sessions int32
	changes  []time.Time
}

// capacityFor sums the capacity that orders add to pool (namespace ns, product product) at now.
// An item whose product differs from the pool's adds nothing: its order is Invalid.
func capacityFor(orders []v1alpha1.CustomerOrder, ns, pool, product string, now time.Time) orderCapacity {
	var c orderCapacity
	for i := range orders {
		o := &orders[i]
		if o.Spec.Customer != ns || o.Spec.Cancelled {
			continue
		}
		for _, it := range o.Spec.Items {
			if it.TargetPool() != pool || it.Product != product {
				continue
			}
			for _, t := range []*metav1.Time{o.Spec.StartsAt, o.Spec.ExpiresAt} {
				if t != nil && t.After(now) {
					c.changes = append(c.changes, t.Time)
				}
			}
			if orderPhase(o, now) != v1alpha1.OrderActive {
				continue
			}
			c.seats += it.Seats
			c.sessions += it.ConcurrentSessions
			c.orders = append(c.orders, v1alpha1.PoolOrder{Name: o.Name, Seats: it.Seats,
				ConcurrentSessions: it.ConcurrentSessions, ExpiresAt: o.Spec.ExpiresAt})
		}
	}
	return c
}

// addLimit adds ordered capacity to a spec limit; an unlimited (nil) limit stays unlimited.
func addLimit(spec *int32, add int32) *int32 {
	if spec == nil {
		return nil
	}
	v := *spec + add
	return &v
}
