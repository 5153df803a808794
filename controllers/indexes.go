package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Cache indexes, so that a pool's claimants and orders are found without scanning every object.
const (
	// indexPoolName indexes SeatAssignments, SharedSessions and LicenseLedgers by spec.poolName.
	indexPoolName = "spec.poolName"
	// indexOrderPool indexes CustomerOrders by "namespace/pool" for each pool they add to.
	indexOrderPool = "spec.items.pool"
	// indexOrderCustomer indexes CustomerOrders by spec.customer.
	indexOrderCustomer = "spec.customer"
)

func setupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.SeatAssignment{}, indexPoolName, func(o client.Object) []string {
		return []string{o.(*v1alpha1.SeatAssignment).Spec.PoolName}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.SharedSession{}, indexPoolName, func(o client.Object) []string {
		return []string{o.(*v1alpha1.SharedSession).Spec.PoolName}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.LicenseLedger{}, indexPoolName, func(o client.Object) []string {
		return []string{o.(*v1alpha1.LicenseLedger).Spec.PoolName}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.CustomerOrder{}, indexOrderCustomer, func(o client.Object) []string {
		return []string{o.(*v1alpha1.CustomerOrder).Spec.Customer}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &v1alpha1.CustomerOrder{}, indexOrderPool, func(o client.Object) []string {
		return orderPoolKeys(o.(*v1alpha1.CustomerOrder))
	})
}

// orderPoolKeys are the "namespace/pool" keys an order adds capacity to; none while unassigned.
func orderPoolKeys(o *v1alpha1.CustomerOrder) []string {
	if o.Spec.Customer == "" {
		return nil
	}
	keys := make([]string, 0, len(o.Spec.Items))
	for _, it := range o.Spec.Items {
		keys = append(keys, o.Spec.Customer+"/"+it.TargetPool())
	}
	return keys
}
