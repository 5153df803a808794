package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestOrderPoolKeys(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.CustomerOrderSpec
		want []string
	}{
		{"unassigned: indexed under no pool", v1alpha1.CustomerOrderSpec{Items: []v1alpha1.OrderItem{{Product: "rs"}}}, nil},
		{"the item's pool, by default named after the product", v1alpha1.CustomerOrderSpec{Customer: "acme", Items: []v1alpha1.OrderItem{
			{Product: "rs"}, {Product: "vd", PoolName: "video"}}}, []string{"acme/rs", "acme/video"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, orderPoolKeys(&v1alpha1.CustomerOrder{Spec: tc.spec})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
