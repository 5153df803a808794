package main

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// now is the fixed time of every test.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func at(d time.Duration) *metav1.Time { return &metav1.Time{Time: ago(d)} }

// microAt is a MicroTime d before now, with microseconds as the operator writes them.
func microAt(d time.Duration) *metav1.MicroTime {
	return &metav1.MicroTime{Time: ago(d).Add(123456 * time.Microsecond)}
}

func objectMeta(ns, name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Time{Time: ago(age)}}
}

func ready(status metav1.ConditionStatus, msg string) []metav1.Condition {
	return []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: status, Reason: "Reconciled", Message: msg,
		LastTransitionTime: metav1.Time{Time: ago(time.Hour)}}}
}

// fixtures is a known world: two accounts, acme and globex. acme has a limited pool with seats
// in every phase and sessions in every phase, and an unlimited pool; globex has a pool the
// operator has not seen yet.
func fixtures() []client.Object {
	pools := []client.Object{
		&v1alpha1.LicensePool{
			ObjectMeta: objectMeta("acme", "remote-support", 30*24*time.Hour),
			Spec: v1alpha1.LicensePoolSpec{Product: "remote-support", DisplayName: "Remote Support (Acme, technicians)",
				Seats: ptr.To[int32](25), ConcurrentSessions: ptr.To[int32](10),
				ExpiresAt: &metav1.Time{Time: time.Date(2027, 11, 30, 0, 0, 0, 0, time.UTC)}},
			Status: v1alpha1.LicensePoolStatus{
				ObservedGeneration: 1,
				Seats:              v1alpha1.SeatUsage{Limit: ptr.To[int32](30), Bound: 3, Pending: 1, Summary: "3/30"},
				Sessions:           v1alpha1.SessionUsage{Limit: ptr.To[int32](12), Active: 2, Idle: 1, Waiting: 2, Summary: "2/12"},
				Conditions:         ready(metav1.ConditionTrue, "3/30 seats bound, 2/12 shared licences in use, 2 waiting"),
			},
		},
		&v1alpha1.LicensePool{
			// An older operator that writes no summaries: the plugin computes them.
			ObjectMeta: objectMeta("acme", "cad-floating", 10*24*time.Hour),
			Spec:       v1alpha1.LicensePoolSpec{Product: "cad", ConcurrentSessions: ptr.To[int32](0)},
			Status: v1alpha1.LicensePoolStatus{
				ObservedGeneration: 2,
				Seats:              v1alpha1.SeatUsage{Bound: 0},
				Sessions:           v1alpha1.SessionUsage{Limit: ptr.To[int32](0)},
				Conditions:         ready(metav1.ConditionFalse, "the pool, licences in \"cad\", has no shared licences"),
			},
		},
		&v1alpha1.LicensePool{
			ObjectMeta: objectMeta("globex", "solver", time.Minute),
			Spec:       v1alpha1.LicensePoolSpec{Product: "solver", Seats: ptr.To[int32](5)},
		},
	}
	seats := []client.Object{
		seat("alice", "alice@acme.example", v1alpha1.AssigneeUser, true, 20*24*time.Hour, v1alpha1.SeatBound, v1alpha1.SeatReasonGranted, at(20*24*time.Hour), "seat granted in pool remote-support (1/30 bound)"),
		seat("bob", "bob@acme.example", "", true, 19*24*time.Hour, v1alpha1.SeatBound, v1alpha1.SeatReasonGranted, at(19*24*time.Hour), "seat granted in pool remote-support (2/30 bound)"),
		seat("frontdesk-kiosk", "kiosk-frontdesk-01", v1alpha1.AssigneeDevice, true, 18*24*time.Hour, v1alpha1.SeatBound, v1alpha1.SeatReasonGranted, at(18*24*time.Hour), "seat granted in pool remote-support (3/30 bound)"),
		seat("dave", "dave@acme.example", v1alpha1.AssigneeUser, false, 2*24*time.Hour, v1alpha1.SeatDisabled, v1alpha1.SeatReasonDisabled, nil, "switched off: holds no seat"),
		seat("erin", "alice@acme.example", v1alpha1.AssigneeUser, true, time.Hour, v1alpha1.SeatPending, v1alpha1.SeatReasonDuplicateAssignee, nil, "alice@acme.example already has a seat in pool remote-support, from SeatAssignment alice"),
		&v1alpha1.SeatAssignment{
			ObjectMeta: objectMeta("globex", "gina", time.Minute),
			Spec:       v1alpha1.SeatAssignmentSpec{PoolName: "solver", Assignee: v1alpha1.Assignee{Name: "gina@globex.example"}},
		},
	}
	sessions := []client.Object{
		// Active and connected for 1:02:03 so far.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "alice-helpdesk", 2*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote-support", Holder: "alice@acme.example", Peer: "ticket-48213", State: v1alpha1.SessionConnected},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: microAt(time.Hour + 2*time.Minute + 3*time.Second),
				RenewTime: microAt(10 * time.Second), Message: "holds a shared licence of pool remote-support (2/12 in use)"},
		},
		// Active and Idle, granted before the day began: the duration runs past 24 hours. Its count
		// is written out; alice's is left to the default, 1 all the same.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "carol-helpdesk", 27*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote-support", Holder: "carol@acme.example", Count: 1},
			Status:     v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: microAt(26*time.Hour + 5*time.Second)},
		},
		// In the queue, second and first (the first has the higher priority); the second asks for
		// three licences at once.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "agent-1", 5*time.Minute),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote-support", Holder: "agent-1@acme.example", Count: 3},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionWaiting, QueuePosition: 2,
				Message: "all 12 shared licences of pool remote-support are in use; waiting at position 2 of 2"},
		},
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "agent-2", 4*time.Minute),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote-support", Holder: "agent-2@acme.example", Priority: 10},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionWaiting, QueuePosition: 1,
				Message: "all 12 shared licences of pool remote-support are in use; waiting at position 1 of 2"},
		},
		// Ended after 0:45:30 of use; its peer was written by an agent to look like a formula.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "bob-helpdesk", 5*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote-support", Holder: "bob@acme.example", Peer: `=HYPERLINK("http://evil.example","x")`, State: v1alpha1.SessionConnected},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, GrantedAt: microAt(4*time.Hour + 45*time.Minute + 30*time.Second),
				EndedAt: microAt(4 * time.Hour), EndReason: v1alpha1.EndHeartbeatExpired,
				Message: "no heartbeat for 60s, so the licence was freed;\nrenew status.renewTime more often"},
		},
		// Ended without ever being granted.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "cad-1", 3*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "cad-floating", Holder: "erin@acme.example"},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, EndedAt: microAt(3 * time.Hour),
				EndReason: v1alpha1.EndRejected, Message: `pool cad-floating has no shared licences ("concurrentSessions: 0")`},
		},
		// Just created, for four licences: the operator has not seen it yet.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("globex", "gina-solver", time.Second),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "gina@globex.example", Count: 4},
		},
	}
	return append(append(pools, seats...), sessions...)
}

// policyFixtures is a second world, for the licence policies: in acme, a pool solver with two
// groups of holders, a cap per holder, preemption and overdraft, one licence of which is in use,
// a session under preemption notice and the session that preempts it; and a pool viewer without
// policies whose capacity dropped, with a session under notice for it.
func policyFixtures() []client.Object {
	limit := func(n int32) *int32 { return ptr.To(n) }
	pools := []client.Object{
		&v1alpha1.LicensePool{
			ObjectMeta: objectMeta("acme", "solver", 30*24*time.Hour),
			Spec: v1alpha1.LicensePoolSpec{Product: "cfd-solver", Seats: limit(10), ConcurrentSessions: limit(10),
				OverdraftSessions: limit(2),
				SessionPolicy: v1alpha1.SessionPolicy{MaxPerHolder: 2,
					Preemption: &v1alpha1.Preemption{Policy: v1alpha1.PreemptLowerPriority, GracePeriod: &metav1.Duration{Duration: 30 * time.Second}}},
				Groups: []v1alpha1.HolderGroup{
					{Name: "cfd-team", Members: []string{"*@cfd.acme.example", "carol@acme.example"}, ReservedSessions: limit(4), MaxSessions: limit(6), MaxSeats: limit(5)},
					{Name: "sim-batch", Members: []string{"sim-batch-*"}, MaxSessions: limit(3)},
				}},
			Status: v1alpha1.LicensePoolStatus{
				ObservedGeneration: 1,
				Seats:              v1alpha1.SeatUsage{Limit: limit(10), Bound: 3, Summary: "3/10"},
				Sessions: v1alpha1.SessionUsage{Limit: limit(10), Active: 11, Idle: 2, Waiting: 3, Overdraft: 1, Reserved: 4,
					Summary: "11/10"},
				Groups: []v1alpha1.GroupUsage{
					{Name: "cfd-team", SessionsActive: 6, SessionsWaiting: 1, ReservedSessions: 4, MaxSessions: limit(6), SeatsBound: 3, MaxSeats: limit(5)},
					{Name: "sim-batch", SessionsActive: 3, SessionsWaiting: 1, MaxSessions: limit(3)},
				},
				Conditions: ready(metav1.ConditionTrue, "3/10 seats bound, 11/10 shared licences in use (1 in overdraft), 3 waiting"),
			},
		},
		&v1alpha1.LicensePool{
			ObjectMeta: objectMeta("acme", "viewer", 30*24*time.Hour),
			Spec:       v1alpha1.LicensePoolSpec{Product: "viewer", ConcurrentSessions: limit(1)},
			Status: v1alpha1.LicensePoolStatus{
				ObservedGeneration: 3,
				Seats:              v1alpha1.SeatUsage{Summary: "0/∞"},
				Sessions:           v1alpha1.SessionUsage{Limit: limit(1), Active: 2, Summary: "2/1"},
				Conditions:         ready(metav1.ConditionTrue, "0/∞ seats bound, 2/1 shared licences in use, 0 waiting"),
			},
		},
	}
	endingSoon := func(reason v1alpha1.EndReason, msg string) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.ConditionEndingSoon, Status: metav1.ConditionTrue, Reason: string(reason), Message: msg,
			LastTransitionTime: metav1.Time{Time: ago(10 * time.Second)}}}
	}
	in := func(d time.Duration) *metav1.MicroTime { return &metav1.MicroTime{Time: now.Add(d)} }
	// The allocator's words for the two notices.
	preempting := "session urgent-run, of higher priority (100 over 0), takes its licence of pool solver: sim-batch-7 keeps this one until 2026-11-23T12:00:20Z, then the session ends (preemption) unless licences free first"
	reduced := "pool viewer's shared licences were reduced to 1: carl@acme.example keeps this one until 2026-11-23T12:04:00Z, then the session ends unless licences free first"
	sessions := []client.Object{
		// The licence beyond the limit: granted last, in overdraft.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "dan-run", 5*time.Minute),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "dan@acme.example", Count: 1},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: microAt(5 * time.Minute),
				Conditions: []metav1.Condition{{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionTrue, Reason: "Overdraft",
					Message: "holds 1 licence beyond the limit of 10", LastTransitionTime: metav1.Time{Time: ago(5 * time.Minute)}}},
				Message: "dan@acme.example holds a shared licence of pool solver, beyond its limit of 10 (overdraft)"},
		},
		// Under notice: urgent-run, of higher priority, takes its licence in 20s.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "sim-batch-7", 2*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "sim-batch-7"},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: microAt(2 * time.Hour),
				EndsAt: in(20 * time.Second), PreemptedBy: "urgent-run",
				Conditions: endingSoon(v1alpha1.EndPreempted, preempting),
				Message:    preempting},
		},
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "urgent-run", 10*time.Second),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "bob@acme.example", Priority: 100},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionWaiting, QueuePosition: 1,
				Message: "sim-batch-7 gives back its licences to this session at 2026-11-23T12:00:20Z (preemption: priority 100 over 0); waiting at position 1 of 3"},
		},
		// Waiting for its holder's cap, without holding up the queue.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "ann-run-3", 3*time.Minute),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "ann@cfd.acme.example"},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionWaiting, QueuePosition: 2,
				Message: "waiting for 1 shared licence: ann@cfd.acme.example may use at most 2 shared licences of pool solver at once (maxPerHolder) and uses 2; waiting at position 2 of 3 without holding up the queue, until it uses fewer"},
		},
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "sim-batch-3", 3*time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "solver", Holder: "sim-batch-3"},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, GrantedAt: microAt(3 * time.Hour),
				EndedAt: microAt(time.Hour), EndReason: v1alpha1.EndPreempted,
				Message: "session hot-fix, of higher priority, took its licence of pool solver (preemption)"},
		},
		// Under notice because the pool's capacity dropped.
		&v1alpha1.SharedSession{
			ObjectMeta: objectMeta("acme", "carl-view", time.Hour),
			Spec:       v1alpha1.SharedSessionSpec{PoolName: "viewer", Holder: "carl@acme.example"},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: microAt(time.Hour),
				EndsAt:     in(4 * time.Minute),
				Conditions: endingSoon(v1alpha1.EndCapacityReduced, reduced),
				Message:    reduced},
		},
	}
	return append(pools, sessions...)
}

func seat(name, assignee string, kind v1alpha1.AssigneeKind, enabled bool, age time.Duration, phase v1alpha1.SeatPhase,
	reason v1alpha1.SeatReason, boundAt *metav1.Time, msg string) *v1alpha1.SeatAssignment {
	return &v1alpha1.SeatAssignment{
		ObjectMeta: objectMeta("acme", name, age),
		Spec: v1alpha1.SeatAssignmentSpec{PoolName: "remote-support", Enabled: ptr.To(enabled),
			Assignee: v1alpha1.Assignee{Kind: kind, Name: assignee}},
		Status: v1alpha1.SeatAssignmentStatus{Phase: phase, Reason: reason, BoundAt: boundAt, Message: msg},
	}
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// newFakeClient is a fake API server holding the fixtures, with the kinds' selectable fields as
// indexes (the fake client answers field selectors only through indexes).
func newFakeClient(funcs *interceptor.Funcs) client.WithWatch {
	return fakeClientOf(fixtures(), funcs)
}

// fakeClientOf is a fake API server holding objects, as newFakeClient.
func fakeClientOf(objects []client.Object, funcs *interceptor.Funcs) client.WithWatch {
	b := fake.NewClientBuilder().
		WithScheme(newScheme()).
		WithObjects(objects...).
		WithStatusSubresource(&v1alpha1.LicensePool{}, &v1alpha1.SeatAssignment{}, &v1alpha1.SharedSession{}).
		WithIndex(&v1alpha1.SeatAssignment{}, "spec.poolName", func(o client.Object) []string {
			return []string{o.(*v1alpha1.SeatAssignment).Spec.PoolName}
		}).
		WithIndex(&v1alpha1.SeatAssignment{}, "spec.assignee.name", func(o client.Object) []string {
			return []string{o.(*v1alpha1.SeatAssignment).Spec.Assignee.Name}
		}).
		WithIndex(&v1alpha1.SharedSession{}, "spec.poolName", func(o client.Object) []string {
			return []string{o.(*v1alpha1.SharedSession).Spec.PoolName}
		}).
		WithIndex(&v1alpha1.SharedSession{}, "spec.holder", func(o client.Object) []string {
			return []string{o.(*v1alpha1.SharedSession).Spec.Holder}
		})
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}
