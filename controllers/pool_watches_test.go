package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestIsHeartbeat(t *testing.T) {
	base := &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Generation: 1, ResourceVersion: "10"},
		Spec:       v1alpha1.SharedSessionSpec{PoolName: "p", Holder: "alice"},
		Status:     v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, RenewTime: micro(0), GrantedAt: micro(0)},
	}
	tests := []struct {
		name   string
		change func(*v1alpha1.SharedSession)
		want   bool
	}{
		{"renewTime only", func(s *v1alpha1.SharedSession) { s.Status.RenewTime = micro(time.Second) }, true},
		{"first renewal", func(s *v1alpha1.SharedSession) { s.Status.RenewTime = nil }, true},
		{"spec change bumps the generation", func(s *v1alpha1.SharedSession) { s.Generation, s.Spec.State = 2, v1alpha1.SessionConnected }, false},
		{"phase change", func(s *v1alpha1.SharedSession) { s.Status.Phase = v1alpha1.SessionEnded }, false},
		{"renewal with a phase change", func(s *v1alpha1.SharedSession) {
			s.Status.RenewTime, s.Status.Phase = micro(time.Second), v1alpha1.SessionEnded
		}, false},
		{"deletion starts", func(s *v1alpha1.SharedSession) { s.DeletionTimestamp = mt(0) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := base.DeepCopy()
			next.ResourceVersion = "11"
			tc.change(next)
			if got := isHeartbeat(base, next); got != tc.want {
				t.Errorf("isHeartbeat = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWatchMappers(t *testing.T) {
	ctx := context.Background()
	key := func(ns, name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
	}
	seat := &v1alpha1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "alice"}, Spec: v1alpha1.SeatAssignmentSpec{PoolName: "rs"}}
	sess := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "s-1"}, Spec: v1alpha1.SharedSessionSpec{PoolName: "video"}}
	if diff := cmp.Diff([]reconcile.Request{key("acme", "rs")}, poolOfClaimant(ctx, seat)); diff != "" {
		t.Errorf("a seat maps to its pool (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]reconcile.Request{key("acme", "video")}, poolOfClaimant(ctx, sess)); diff != "" {
		t.Errorf("a session maps to its pool (-want +got):\n%s", diff)
	}

	tests := []struct {
		name  string
		order v1alpha1.CustomerOrderSpec
		want  []reconcile.Request
	}{
		{"unassigned: no pool yet", v1alpha1.CustomerOrderSpec{Items: []v1alpha1.OrderItem{{Product: "rs"}}}, nil},
		{"each item's pool in the customer's namespace", v1alpha1.CustomerOrderSpec{Customer: "acme", Items: []v1alpha1.OrderItem{
			{Product: "rs"}, {Product: "vd", PoolName: "video"}}}, []reconcile.Request{key("acme", "rs"), key("acme", "video")}},
	}
	for _, tc := range tests {
		got := poolsOfOrder(ctx, &v1alpha1.CustomerOrder{Spec: tc.order})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
