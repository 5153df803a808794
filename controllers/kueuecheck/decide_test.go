package kueuecheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	pool := func(limit *int32, expires *time.Time) *v1alpha1.LicensePool {
		p := &v1alpha1.LicensePool{}
		p.Status.ObservedGeneration = 1
		p.Status.Sessions.Limit = limit
		if expires != nil {
			p.Spec.ExpiresAt = &metav1.Time{Time: *expires}
		}
		return p
	}
	sess := func(phase v1alpha1.SessionPhase, reason v1alpha1.EndReason) *v1alpha1.SharedSession {
		s := &v1alpha1.SharedSession{}
		s.Name, s.Spec.PoolName, s.Spec.Count = "wl-a-0", "p", 2
		s.Status.Phase, s.Status.EndReason, s.Status.Message = phase, reason, "the pool says"
		return s
	}
	past := now.Add(-time.Hour)
	req := request{pool: "p", count: 2}
	for _, tc := range []struct {
		name    string
		reqErr  error
		pool    *v1alpha1.LicensePool
		sess    *v1alpha1.SharedSession
		state   kueue.CheckState
		create  bool
		message string
	}{
		{"bad request", errors.New("annotation is bad"), nil, nil, kueue.CheckStateRejected, false, "annotation is bad"},
		{"no pool", nil, nil, nil, kueue.CheckStateRejected, false, "does not exist"},
		{"expired pool", nil, pool(ptr.To[int32](4), &past), nil, kueue.CheckStateRejected, false, "expired"},
		{"more than the limit", nil, pool(ptr.To[int32](1), nil), nil, kueue.CheckStateRejected, false, "more than pool p has (1)"},
		{"fits: create", nil, pool(ptr.To[int32](4), nil), nil, kueue.CheckStatePending, true, "asking pool p for 2 licences"},
		{"unlimited: create", nil, pool(nil, nil), nil, kueue.CheckStatePending, true, "asking"},
		{"waiting", nil, pool(ptr.To[int32](4), nil), sess(v1alpha1.SessionWaiting, ""), kueue.CheckStatePending, false, "the pool says"},
		{"waiting, pool gone", nil, nil, sess(v1alpha1.SessionWaiting, ""), kueue.CheckStateRejected, false, "does not exist"},
		{"granted", nil, pool(ptr.To[int32](4), nil), sess(v1alpha1.SessionActive, ""), kueue.CheckStateReady, false, "2 licences of pool p granted"},
		{"granted, pool gone: the session decides", nil, nil, sess(v1alpha1.SessionActive, ""), kueue.CheckStateReady, false, "granted"},
		{"ended by an admin", nil, pool(ptr.To[int32](4), nil), sess(v1alpha1.SessionEnded, v1alpha1.EndTerminated), kueue.CheckStateRetry, false, "Terminated"},
		{"heartbeat lost", nil, pool(ptr.To[int32](4), nil), sess(v1alpha1.SessionEnded, v1alpha1.EndHeartbeatExpired), kueue.CheckStateRetry, false, "HeartbeatExpired"},
		{"pool deleted", nil, nil, sess(v1alpha1.SessionEnded, v1alpha1.EndPoolNotFound), kueue.CheckStateRejected, false, "PoolNotFound"},
		{"rejected by the pool", nil, pool(ptr.To[int32](4), nil), sess(v1alpha1.SessionEnded, v1alpha1.EndRejected), kueue.CheckStateRejected, false, "Rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := decide(req, tc.reqErr, tc.pool, tc.sess, now)
			if v.state != tc.state || v.create != tc.create || !strings.Contains(v.message, tc.message) {
				t.Errorf("decide = %+v, want state %s, create %v, message containing %q", v, tc.state, tc.create, tc.message)
			}
		})
	}
}

func TestRequestOf(t *testing.T) {
	wl := func(ann map[string]string, pods ...int32) *kueue.Workload {
		w := &kueue.Workload{}
		w.Annotations = ann
		for _, n := range pods {
			w.Spec.PodSets = append(w.Spec.PodSets, kueue.PodSet{Name: "ps", Count: n})
		}
		return w
	}
	params := &v1alpha1.LicenseCheckParameters{Spec: v1alpha1.LicenseCheckParametersSpec{PoolName: "p", LicensesPerPod: 2}}
	for _, tc := range []struct {
		name   string
		wl     *kueue.Workload
		params *v1alpha1.LicenseCheckParameters
		want   request
		err    string
	}{
		{"parameters × pods", wl(nil, 3, 2), params, request{pool: "p", count: 10}, ""},
		{"annotations override", wl(map[string]string{v1alpha1.WorkloadPoolAnnotation: "q", v1alpha1.WorkloadLicensesAnnotation: "3"}, 2), params, request{pool: "q", count: 6}, ""},
		{"no parameters: one per pod", wl(map[string]string{v1alpha1.WorkloadPoolAnnotation: "q"}, 4), nil, request{pool: "q", count: 4}, ""},
		{"no pool", wl(nil, 1), nil, request{}, "no licence pool"},
		{"bad annotation", wl(map[string]string{v1alpha1.WorkloadLicensesAnnotation: "lots"}, 1), params, request{}, "whole number"},
		{"too many", wl(nil, 600), params, request{}, "more than the 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := requestOf(tc.wl, tc.params)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("requestOf = %+v, %v, want %+v", got, err, tc.want)
			}
		})
	}
}
