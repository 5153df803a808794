package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// series reads the series of one metric vector that belong to a pool, without creating any:
// by reason label ("" for a metric without one), the counter's or gauge's value; for a
// histogram, its count of observations ("count") and their sum ("sum"). (prometheus/testutil
// would need a module go.mod does not list.)
func series(t *testing.T, c prometheus.Collector, namespace, pool string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatalf("read a metric: %v", err)
		}
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] != namespace || labels["pool"] != pool {
			continue
		}
		switch {
		case d.Counter != nil:
			out[labels["reason"]] = d.GetCounter().GetValue()
		case d.Gauge != nil:
			out[labels["reason"]] = d.GetGauge().GetValue()
		case d.Histogram != nil:
			out["count"] = float64(d.GetHistogram().GetSampleCount())
			out["sum"] = d.GetHistogram().GetSampleSum()
		}
	}
	return out
}

func TestCountTransitions(t *testing.T) {
	// Each case counts in a namespace of its own, so that no other case's counts mix in.
	session := func(ns, name string) *v1alpha1.SharedSession {
		s := testSession(name, "p")
		s.Namespace = ns
		return s
	}
	ended := func(ns, name string, reason v1alpha1.EndReason) []note {
		return sessionNote(session(ns, name), allocator.SessionResult{Phase: v1alpha1.SessionEnded, EndReason: reason, Transition: allocator.SessionEnded})
	}
	seatWaits := func(ns string, reason v1alpha1.SeatReason) []note {
		s := &v1alpha1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"}, Spec: v1alpha1.SeatAssignmentSpec{PoolName: "p"}}
		return seatNote(s, allocator.SeatResult{Phase: v1alpha1.SeatPending, Reason: reason, Transition: allocator.SeatWaits})
	}
	granted := func(ns, name string) []note {
		s := session(ns, name) // created 10s before t0
		s.Status.GrantedAt = micro(0)
		return sessionNote(s, allocator.SessionResult{Phase: v1alpha1.SessionActive, Transition: allocator.SessionGranted})
	}
	none := map[string]float64{}
	tests := []struct {
		name                  string
		notes                 func(ns string) []note
		ends, denials, waited map[string]float64
	}{
		{"a session turned away: one end and one denial",
			func(ns string) []note { return ended(ns, "a", v1alpha1.EndRejected) },
			map[string]float64{"Rejected": 1}, map[string]float64{"Rejected": 1}, none},
		{"a session not entitled: one end and one denial",
			func(ns string) []note { return ended(ns, "a", v1alpha1.EndNotEntitled) },
			map[string]float64{"NotEntitled": 1}, map[string]float64{"NotEntitled": 1}, none},
		{"a session terminated: one end, no denial",
			func(ns string) []note { return ended(ns, "a", v1alpha1.EndTerminated) },
			map[string]float64{"Terminated": 1}, none, none},
		{"a seat waiting for a free seat: one denial",
			func(ns string) []note { return seatWaits(ns, v1alpha1.SeatReasonLicensesNotAvailable) },
			none, map[string]float64{"LicensesNotAvailable": 1}, none},
		{"a seat waiting for its pool: no denial",
			func(ns string) []note { return seatWaits(ns, v1alpha1.SeatReasonPoolNotFound) },
			none, none, none},
		{"a grant: no end, its wait observed (10s from creation to grant)",
			func(ns string) []note { return granted(ns, "a") },
			none, none, map[string]float64{"count": 1, "sum": 10}},
		{"a pool's condition: nothing counted",
			func(ns string) []note {
				p := testPool("p", 1)
				p.Namespace = ns
				next := p.DeepCopy()
				setCondition(&next.Status.Conditions, v1alpha1.ConditionSessionsExhausted, true, v1alpha1.ReasonSessionsExhausted, "full", 1)
				return poolNotes(p, next)
			},
			none, none, none},
		{"the notes of a pass: each counted once",
			func(ns string) []note {
				var n []note
				n = append(n, ended(ns, "a", v1alpha1.EndRejected)...)
				n = append(n, ended(ns, "b", v1alpha1.EndRejected)...)
				n = append(n, ended(ns, "c", v1alpha1.EndHeartbeatExpired)...)
				n = append(n, granted(ns, "d")...)
				n = append(n, granted(ns, "e")...)
				return n
			},
			map[string]float64{"Rejected": 2, "HeartbeatExpired": 1}, map[string]float64{"Rejected": 2}, map[string]float64{"count": 2, "sum": 20}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := fmt.Sprintf("count-transitions-%d", i)
			notes := tc.notes(ns)
			if len(notes) == 0 {
				t.Fatal("the case makes no notes: it tests nothing")
			}
			vecs := []struct {
				what string
				vec  prometheus.Collector
				want map[string]float64
			}{
				{"ends", metrics.Ends, tc.ends},
				{"denials", metrics.Denials, tc.denials},
				{"waits observed", metrics.WaitSeconds, tc.waited},
			}
			// The counters are global: with -count=N the case's namespace has counted before.
			before := make([]map[string]float64, len(vecs))
			for j, c := range vecs {
				before[j] = series(t, c.vec, ns, "p")
			}
			countTransitions(notes)
			for j, c := range vecs {
				got := map[string]float64{}
				for k, v := range series(t, c.vec, ns, "p") {
					if d := v - before[j][k]; d != 0 {
						got[k] = d
					}
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s by reason, counted by these notes (-want +got):\n%s", c.what, diff)
				}
			}
		})
	}
}

func TestPoolGauges(t *testing.T) {
	gauges := []struct {
		name string
		vec  *prometheus.GaugeVec
	}{
		{"seats limit", metrics.SeatsLimit}, {"seats bound", metrics.SeatsBound}, {"seats pending", metrics.SeatsPending},
		{"sessions limit", metrics.SessionsLimit}, {"sessions active", metrics.SessionsActive}, {"sessions idle", metrics.SessionsIdle},
		{"sessions waiting", metrics.SessionsWaiting}, {"expiry", metrics.ExpiryTimestamp},
	}
	// read is the pool's gauges that exist, by name.
	read := func(t *testing.T, ns string) map[string]float64 {
		out := map[string]float64{}
		for _, g := range gauges {
			if v, ok := series(t, g.vec, ns, "p")[""]; ok {
				out[g.name] = v
			}
		}
		return out
	}
	expires := t0.Add(24 * time.Hour)
	limited := &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{ExpiresAt: &metav1.Time{Time: expires}}}
	limitedUsage := allocator.Result{Usage: allocator.Usage{SeatLimit: ptr.To[int32](5), SeatsBound: 4, SeatsPending: 2,
		SessionLimit: ptr.To[int32](3), SessionsActive: 3, SessionsIdle: 1, Waiting: 7}}
	unlimited := &v1alpha1.LicensePool{}
	unlimitedUsage := allocator.Result{Usage: allocator.Usage{SeatsBound: 1, SessionsActive: 2}}
	type pass struct {
		pool *v1alpha1.LicensePool
		res  allocator.Result
	}
	tests := []struct {
		name   string
		passes []pass // in order, on the same pool
		want   map[string]float64
	}{
		{"a limited pool that expires: every gauge", []pass{{limited, limitedUsage}}, map[string]float64{
			"seats limit": 5, "seats bound": 4, "seats pending": 2, "sessions limit": 3, "sessions active": 3,
			"sessions idle": 1, "sessions waiting": 7, "expiry": float64(expires.Unix())}},
		{"an unlimited pool that does not expire: no limit or expiry gauges", []pass{{unlimited, unlimitedUsage}}, map[string]float64{
			"seats bound": 1, "seats pending": 0, "sessions active": 2, "sessions idle": 0, "sessions waiting": 0}},
		{"limits and expiry removed: their gauges go", []pass{{limited, limitedUsage}, {unlimited, unlimitedUsage}}, map[string]float64{
			"seats bound": 1, "seats pending": 0, "sessions active": 2, "sessions idle": 0, "sessions waiting": 0}},
		{"the pool is gone: all its gauges go", []pass{{limited, limitedUsage}, {nil, allocator.Result{}}}, map[string]float64{}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := fmt.Sprintf("pool-gauges-%d", i)
			for _, p := range tc.passes {
				poolGauges(ns, "p", p.pool, p.res)
			}
			if diff := cmp.Diff(tc.want, read(t, ns)); diff != "" {
				t.Errorf("the pool's gauges (-want +got):\n%s", diff)
			}
		})
	}
}
