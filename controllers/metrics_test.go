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
// by reason or group label ("" for a metric with neither), the counter's or gauge's value; for a
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
		key := labels["reason"] + labels["group"]
		switch {
		case d.Counter != nil:
			out[key] = d.GetCounter().GetValue()
		case d.Gauge != nil:
			out[key] = d.GetGauge().GetValue()
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
		{"a seat held at its group's maxSeats: one denial",
			func(ns string) []note { return seatWaits(ns, v1alpha1.SeatReasonGroupLimitReached) },
			none, map[string]float64{"GroupLimitReached": 1}, none},
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
		{"a session preempted: one end under Preempted, no denial",
			func(ns string) []note { return ended(ns, "a", v1alpha1.EndPreempted) },
			map[string]float64{"Preempted": 1}, none, none},
		{"a grant beyond the limit: its wait observed once, though it makes two notes",
			func(ns string) []note {
				s := session(ns, "a")
				r := allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Overdraft: true, Transition: allocator.SessionGranted}
				s.Status = sessionStatus(s, r, allocator.Usage{SessionLimit: ptr.To[int32](1), Overdraft: 1})
				return sessionNote(s, r)
			},
			none, none, map[string]float64{"count": 1, "sum": 10}},
		{"a notice of preemption: nothing counted",
			func(ns string) []note {
				return sessionNote(session(ns, "a"), allocator.SessionResult{Phase: v1alpha1.SessionActive, PreemptedBy: "b", Transition: allocator.SessionNoticed})
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
		{"overdraft", metrics.SessionsOverdraft}, {"overdraft allowed", metrics.OverdraftAllowed}, {"reserved", metrics.SessionsReserved},
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
		SessionLimit: ptr.To[int32](3), SessionsActive: 4, SessionsIdle: 1, Waiting: 7, SessionsOverdraft: 1, Overdraft: 2, Reserved: 2}}
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
			"seats limit": 5, "seats bound": 4, "seats pending": 2, "sessions limit": 3, "sessions active": 4,
			"sessions idle": 1, "sessions waiting": 7, "expiry": float64(expires.Unix()),
			"overdraft": 1, "overdraft allowed": 2, "reserved": 2}},
		{"an unlimited pool that does not expire: no limit or expiry gauges", []pass{{unlimited, unlimitedUsage}}, map[string]float64{
			"seats bound": 1, "seats pending": 0, "sessions active": 2, "sessions idle": 0, "sessions waiting": 0,
			"overdraft": 0, "overdraft allowed": 0, "reserved": 0}},
		{"limits and expiry removed: their gauges go", []pass{{limited, limitedUsage}, {unlimited, unlimitedUsage}}, map[string]float64{
			"seats bound": 1, "seats pending": 0, "sessions active": 2, "sessions idle": 0, "sessions waiting": 0,
			"overdraft": 0, "overdraft allowed": 0, "reserved": 0}},
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

func TestGroupGauges(t *testing.T) {
	gauges := []struct {
		name string
		vec  *prometheus.GaugeVec
	}{
		{"active", metrics.GroupSessionsActive}, {"waiting", metrics.GroupSessionsWaiting}, {"reserved", metrics.GroupSessionsReserved},
		{"sessions limit", metrics.GroupSessionsLimit}, {"seats bound", metrics.GroupSeatsBound}, {"seats limit", metrics.GroupSeatsLimit},
	}
	// read is the pool's group series that exist, as "group gauge".
	read := func(t *testing.T, ns string) map[string]float64 {
		out := map[string]float64{}
		for _, g := range gauges {
			for group, v := range series(t, g.vec, ns, "p") {
				out[group+" "+g.name] = v
			}
		}
		return out
	}
	pool := &v1alpha1.LicensePool{}
	cfd := allocator.GroupUsage{Name: "cfd-team", Reserved: 4, MaxSessions: ptr.To[int32](6), SessionsActive: 5, SessionsWaiting: 2}
	batch := allocator.GroupUsage{Name: "batch", MaxSeats: ptr.To[int32](3), SeatsBound: 1}
	uncapped := cfd
	uncapped.MaxSessions = nil
	withGroups := func(groups ...allocator.GroupUsage) allocator.Result {
		return allocator.Result{Usage: allocator.Usage{Groups: groups}}
	}
	cfdSeries := map[string]float64{"cfd-team active": 5, "cfd-team waiting": 2, "cfd-team reserved": 4, "cfd-team sessions limit": 6, "cfd-team seats bound": 0}
	tests := []struct {
		name   string
		passes []allocator.Result // in order, on the same pool; a nil Usage.Groups: no groups
		gone   bool               // the pool is deleted after the passes
		want   map[string]float64
	}{
		{"two groups: each its series, a limit only where capped", []allocator.Result{withGroups(cfd, batch)},
			false, map[string]float64{"cfd-team active": 5, "cfd-team waiting": 2, "cfd-team reserved": 4, "cfd-team sessions limit": 6,
				"cfd-team seats bound": 0, "batch active": 0, "batch waiting": 0, "batch reserved": 0, "batch seats bound": 1, "batch seats limit": 3}},
		{"a group taken out of the spec: its series go", []allocator.Result{withGroups(cfd, batch), withGroups(cfd)}, false, cfdSeries},
		{"a cap taken away: its limit goes", []allocator.Result{withGroups(cfd), withGroups(uncapped)}, false,
			map[string]float64{"cfd-team active": 5, "cfd-team waiting": 2, "cfd-team reserved": 4, "cfd-team seats bound": 0}},
		{"every group taken out: no group series", []allocator.Result{withGroups(cfd, batch), {}}, false, map[string]float64{}},
		{"a group taken out and put back: its series return", []allocator.Result{withGroups(cfd), {}, withGroups(cfd)}, false, cfdSeries},
		{"the pool is gone: its groups' series go", []allocator.Result{withGroups(cfd, batch)}, true, map[string]float64{}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := fmt.Sprintf("group-gauges-%d", i)
			for _, res := range tc.passes {
				poolGauges(ns, "p", pool, res)
			}
			if tc.gone {
				poolGauges(ns, "p", nil, allocator.Result{})
			}
			if diff := cmp.Diff(tc.want, read(t, ns)); diff != "" {
				t.Errorf("the groups' gauges (-want +got):\n%s", diff)
			}
		})
	}
	// Another pool's groups of the same names are left alone.
	poolGauges("group-gauges-x", "p", pool, withGroups(cfd))
	poolGauges("group-gauges-x", "q", pool, withGroups(cfd))
	poolGauges("group-gauges-x", "q", nil, allocator.Result{})
	if got := read(t, "group-gauges-x"); !cmp.Equal(cfdSeries, got) {
		t.Errorf("pool p's groups after pool q was deleted: %v, want %v", got, cfdSeries)
	}
}
