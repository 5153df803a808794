package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
// An order with an item whose pool is for another product adds nothing anywhere: it is Invalid.
// productOf tells the product of a pool in ns, and false when there is no such pool.
func capacityFor(orders []v1alpha1.CustomerOrder, ns, pool, product string, now time.Time, productOf func(name string) (string, bool)) orderCapacity {
	var c orderCapacity
	for i := range orders {
		o := &orders[i]
		if o.Spec.Customer != ns || o.Spec.Cancelled || !productsMatch(o, productOf) {
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

// productsMatch reports whether every pool the order names either does not exist yet or is for
// the item's product.
func productsMatch(o *v1alpha1.CustomerOrder, productOf func(name string) (string, bool)) bool {
	for _, it := range o.Spec.Items {
		if p, ok := productOf(it.TargetPool()); ok && p != it.Product {
			return false
		}
	}
	return true
}
