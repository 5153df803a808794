package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

func TestAllocatorPool(t *testing.T) {
	expires := t0.Add(30 * 24 * time.Hour)
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	// defaults is what a pool that sets nothing, and orders nothing, translates to.
	defaults := func(p allocator.Pool, policy ...func(*allocator.Policy)) allocator.Pool {
		p.Name, p.Found, p.ExpiryWarning, p.Policy = "p", true, 168*time.Hour, allocator.DefaultPolicy
		p.Policy.CapacityGrace = 5 * time.Minute // the API's default
		for _, f := range policy {
			f(&p.Policy)
		}
		return p
	}
	ledger := func(seats, sessions *v1alpha1.Grants) v1alpha1.LicensePoolStatus {
		return v1alpha1.LicensePoolStatus{Ledger: &v1alpha1.Ledger{Seats: seats, Sessions: sessions}}
	}
	g := func(holders []string, uids ...types.UID) *v1alpha1.Grants { x := grants(holders, uids...); return &x }
	tests := []struct {
		name     string
		pool     *v1alpha1.LicensePool // Spec and Status only; nil: no pool
		capacity orderCapacity
		uids     holderUIDs
		want     allocator.Pool
	}{
		{
			name: "no pool: not found, the default policy",
			want: allocator.Pool{Name: "p", Policy: allocator.DefaultPolicy},
		},
		{
			name: "a pool that sets nothing: unlimited, default timeouts and expiry warning",
			pool: &v1alpha1.LicensePool{},
			want: defaults(allocator.Pool{}),
		},
		{
			name:     "spec limits plus what the orders add",
			pool:     &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{Seats: ptr.To[int32](5), ConcurrentSessions: ptr.To[int32](2)}},
			capacity: orderCapacity{seats: 3, sessions: 1, changes: []time.Time{t0.Add(time.Hour)}},
			want:     defaults(allocator.Pool{SeatLimit: ptr.To[int32](8), SessionLimit: ptr.To[int32](3), CapacityChanges: []time.Time{t0.Add(time.Hour)}}),
		},
		{
			name:     "an unlimited kind stays unlimited whatever the orders add; a limit of 0 grows with them",
			pool:     &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{ConcurrentSessions: ptr.To[int32](0)}},
			capacity: orderCapacity{seats: 3, sessions: 4},
			want:     defaults(allocator.Pool{SessionLimit: ptr.To[int32](4)}),
		},
		{
			name: "the policy as the spec sets it",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{
				ExpiresAt: &metav1.Time{Time: expires}, ExpiryWarning: dur(24 * time.Hour),
				SessionPolicy: v1alpha1.SessionPolicy{HeartbeatTimeout: dur(30 * time.Second), IdleTimeout: dur(5 * time.Minute),
					MaxDuration: dur(8 * time.Hour), RetainEnded: dur(time.Hour), WhenExhausted: v1alpha1.WhenExhaustedReject,
					RequireSeat: true, CountBy: v1alpha1.CountByHolder, CapacityGracePeriod: dur(0)},
			}},
			want: allocator.Pool{Name: "p", Found: true, ExpiresAt: &expires, ExpiryWarning: 24 * time.Hour,
				Policy: allocator.Policy{HeartbeatTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute, MaxDuration: 8 * time.Hour,
					RetainEnded: time.Hour, Reject: true, RequireSeat: true, CountByHolder: true}},
		},
		{
			name: "groups in the spec's order, a reservation unset reads 0; overdraft and the cap per holder",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{
				OverdraftSessions: ptr.To[int32](3),
				SessionPolicy:     v1alpha1.SessionPolicy{MaxPerHolder: 2},
				Groups: []v1alpha1.HolderGroup{
					{Name: "cfd-team", Members: []string{"*@cfd.acme.example"}, ReservedSessions: ptr.To[int32](4), MaxSessions: ptr.To[int32](6)},
					{Name: "batch", Members: []string{"sim-batch-*", "nightly"}, MaxSeats: ptr.To[int32](1)},
				},
			}},
			want: defaults(allocator.Pool{Groups: []allocator.Group{
				{Name: "cfd-team", Members: []string{"*@cfd.acme.example"}, Reserved: 4, MaxSessions: ptr.To[int32](6)},
				{Name: "batch", Members: []string{"sim-batch-*", "nightly"}, MaxSeats: ptr.To[int32](1)},
			}}, func(p *allocator.Policy) { p.Overdraft, p.MaxPerHolder = 3, 2 }),
		},
		{
			name: "preemption by lower priority, its grace as set",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{SessionPolicy: v1alpha1.SessionPolicy{
				Preemption: &v1alpha1.Preemption{Policy: v1alpha1.PreemptLowerPriority, GracePeriod: dur(0)}}}},
			want: defaults(allocator.Pool{}, func(p *allocator.Policy) { p.Preempt, p.PreemptGrace = true, 0 }),
		},
		{
			name: "preemption by lower priority without a grace period: the API's default, 30s",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{SessionPolicy: v1alpha1.SessionPolicy{
				Preemption: &v1alpha1.Preemption{Policy: v1alpha1.PreemptLowerPriority}}}},
			want: defaults(allocator.Pool{}, func(p *allocator.Policy) { p.Preempt, p.PreemptGrace = true, 30*time.Second }),
		},
		{
			name: "preemption Never, or no policy: off, whatever the grace period",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{SessionPolicy: v1alpha1.SessionPolicy{
				Preemption: &v1alpha1.Preemption{Policy: v1alpha1.PreemptNever, GracePeriod: dur(time.Minute)}}}},
			want: defaults(allocator.Pool{}),
		},
		{
			name: "managed by seatkeeper's own controller name: seatkeeper decides",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{ManagedBy: v1alpha1.ControllerName}},
			want: defaults(allocator.Pool{}),
		},
		{
			name: "managed by another controller: its name is kept",
			pool: &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{ManagedBy: "example.com/licences"}},
			want: defaults(allocator.Pool{ManagedBy: "example.com/licences"}),
		},
		{
			name: "the ledger's lists, without the entries of claimants recreated under their name",
			pool: &v1alpha1.LicensePool{Status: ledger(
				g([]string{"s1", "s2"}, "uid-s1", "uid-s2"),
				g([]string{"a", "b", "c"}, "uid-a", "uid-b-old", "uid-c"))},
			uids: holderUIDs{seats: map[string]types.UID{"s1": "uid-s1"}, sessions: map[string]types.UID{"a": "uid-a", "b": "uid-b-new"}},
			want: defaults(allocator.Pool{SeatLedger: []string{"s1", "s2"}, SessionLedger: []string{"a", "c"}}),
		},
		{
			name: "a list the ledger does not keep is nil, an empty one is kept empty",
			pool: &v1alpha1.LicensePool{Status: ledger(nil, &v1alpha1.Grants{})},
			want: defaults(allocator.Pool{SessionLedger: []string{}}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pool != nil {
				tc.pool.ObjectMeta = metav1.ObjectMeta{Namespace: testNS, Name: "p"}
			}
			// cmp tells a nil list (not kept) from an empty one (kept, nobody holds).
			if diff := cmp.Diff(tc.want, allocatorPool("p", tc.pool, tc.capacity, tc.uids, readParts(tc.pool, nil))); diff != "" {
				t.Errorf("allocatorPool (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllocatorSession(t *testing.T) {
	deleting := metav1.NewTime(t0)
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	base := func() *v1alpha1.SharedSession {
		s := testSession("a", "p")
		s.Spec.State = v1alpha1.SessionConnected
		s.Spec.Priority = 7
		s.Status = v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, QueuePosition: 0, Message: "held",
			RenewTime: micro(-time.Second), GrantedAt: micro(-time.Minute), StateChangedAt: micro(-30 * time.Second),
			ObservedState: v1alpha1.SessionConnected}
		return s
	}
	want := func(change func(*allocator.Session)) allocator.Session {
		s := allocator.Session{Name: "a", Created: t0.Add(-10 * time.Second), Holder: "a@acme.example",
			State: v1alpha1.SessionConnected, Priority: 7, Phase: v1alpha1.SessionActive, Message: "held",
			RenewTime: at(-time.Second), GrantedAt: at(-time.Minute), StateChangedAt: at(-30 * time.Second),
			ObservedState: v1alpha1.SessionConnected}
		if change != nil {
			change(&s)
		}
		return s
	}
	tests := []struct {
		name   string
		change func(*v1alpha1.SharedSession)
		want   allocator.Session
	}{
		{"spec and status carried over", nil, want(nil)},
		{"spec.terminate: ends", func(s *v1alpha1.SharedSession) { s.Spec.Terminate = true },
			want(func(s *allocator.Session) { s.Terminate = true })},
		{"being deleted (held by a finalizer): ends as if terminated", func(s *v1alpha1.SharedSession) {
			s.DeletionTimestamp, s.Finalizers = &deleting, []string{"example.com/hold"}
		}, want(func(s *allocator.Session) { s.Terminate = true })},
		{"an empty spec.state reads Idle", func(s *v1alpha1.SharedSession) { s.Spec.State = "" },
			want(func(s *allocator.Session) { s.State = v1alpha1.SessionIdle })},
		{"an ended session's record", func(s *v1alpha1.SharedSession) {
			s.Status.Phase, s.Status.EndReason, s.Status.EndedAt = v1alpha1.SessionEnded, v1alpha1.EndHeartbeatExpired, micro(-time.Second)
		}, want(func(s *allocator.Session) {
			s.Phase, s.EndReason, s.EndedAt = v1alpha1.SessionEnded, v1alpha1.EndHeartbeatExpired, at(-time.Second)
		})},
		{"under notice of preemption: the notice and the session it names", func(s *v1alpha1.SharedSession) {
			s.Status.EndsAt, s.Status.PreemptedBy = micro(30*time.Second), "urgent"
		}, want(func(s *allocator.Session) { s.EndsAt, s.PreemptedBy = at(30*time.Second), "urgent" })},
	}
	for _, tc := range tests {
		s := base()
		if tc.change != nil {
			tc.change(s)
		}
		if diff := cmp.Diff(tc.want, allocatorSession(s)); diff != "" {
			t.Errorf("%s: allocatorSession (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestSnapshotCatchesUpWithItsOwnWrites: a snapshot decides on the objects as our own writes
// left them, without waiting for their echo, and marks the claimants the slow lane is writing.
func TestSnapshotCatchesUpWithItsOwnWrites(t *testing.T) {
	// wrote has the memory record a write of ours to a copy of obj that produced
	// resourceVersion rv, at the time given.
	type write struct {
		obj    func() client.Object
		before string // the resourceVersion the write was based on
		rv     string
		at     time.Time
	}
	pool := func() client.Object { return withSessionLedger(testPool("p", 1)) }
	session := func() client.Object { return testSession("a", "p") }
	tests := []struct {
		name        string
		wrote       []write
		wantPoolRV  string
		wantSessRV  string
		wantWriting bool // the session is marked as being written: none of its writes may go out from it
	}{
		{"nothing written", nil, "999", "999", false},
		{"the cache still shows the session before our write: our write is decided on", []write{{session, "999", "1000", t0}}, "999", "1000", false},
		{"the cache still shows the pool before our write: our write is decided on", []write{{pool, "999", "1000", t0}}, "1000", "999", false},
		// The echo, and someone else's later write, came before our answer: the cache is newer.
		{"the cache shows a state newer than our write: it is decided on", []write{{session, "998", "999", t0}, {pool, "997", "998", t0}}, "999", "999", false},
		// The pass decides on it, and waits only if it would move a licence on it
		// (writePlan.waitsForLane); a write that moves none waits in the lane.
		{"the slow lane is writing the session", []write{{session, "999", rvInFlight, t0}}, "999", "999", true},
		{"our write landed echoWait ago: the cache is taken as it is", []write{{session, "999", "1000", t0.Add(-echoWait)}}, "999", "999", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeAPI(t, interceptor.Funcs{}, pool(), session()) // the fake gives them resourceVersion 999
			r, _ := testReconciler(c, c)
			for _, w := range tc.wrote {
				o := w.obj()
				if w.rv == rvInFlight {
					r.memory.writes = map[types.UID]ownWrite{o.GetUID(): {before: w.before, rv: rvInFlight, at: w.at}}
					continue
				}
				o.SetResourceVersion(w.rv)
				r.memory.wrote(w.before, o, w.at)
			}
			snap, wait, err := r.snapshot(context.Background(), poolKey("p").NamespacedName)
			if err != nil || wait != 0 {
				t.Fatalf("snapshot waits %v, error %v; want neither", wait, err)
			}
			if snap.pool == nil || len(snap.sessions) != 1 {
				t.Fatalf("snapshot holds pool %v and %d sessions, want the pool and its session", snap.pool, len(snap.sessions))
			}
			if snap.pool.ResourceVersion != tc.wantPoolRV || snap.sessions[0].ResourceVersion != tc.wantSessRV {
				t.Errorf("snapshot decides on pool %s, session %s; want %s, %s", snap.pool.ResourceVersion, snap.sessions[0].ResourceVersion, tc.wantPoolRV, tc.wantSessRV)
			}
			if snap.writing["uid-a"] != tc.wantWriting {
				t.Errorf("session marked as being written: %v, want %v", snap.writing["uid-a"], tc.wantWriting)
			}
		})
	}
}

func TestFreshSnapshot(t *testing.T) {
	order := &v1alpha1.CustomerOrder{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vendor", Name: "o1"},
		Spec:       v1alpha1.CustomerOrderSpec{Customer: testNS, Items: []v1alpha1.OrderItem{{Product: "rs", PoolName: "p", ConcurrentSessions: 2}}},
	}
	// poolless is a cached snapshot of a session whose pool the cache does not show.
	poolless := func() *snapshot {
		return &snapshot{key: poolKey("p").NamespacedName, sessions: []*v1alpha1.SharedSession{testSession("a", "p")}}
	}
	tests := []struct {
		name string
		// cached is the snapshot read from the cache; server what the API server holds, and
		// readErr the error its reads fail with.
		cached  func() *snapshot
		server  func() []client.Object
		readErr error
		// want: "same" (the cached snapshot), "wait" (none, and cacheDelay), "error", or
		// "fresh" (a new snapshot with sessions and ordered shared licences).
		want         string
		wantSessions []string
		wantOrdered  int32
	}{
		{
			name:   "no pool in the cache but on the API server: wait for the cache",
			cached: poolless,
			server: func() []client.Object { return []client.Object{testPool("p", 1), testSession("a", "p")} },
			want:   "wait",
		},
		{
			name:   "no pool anywhere: the cached snapshot stands",
			cached: poolless,
			server: func() []client.Object { return []client.Object{testSession("a", "p")} },
			want:   "same",
		},
		{
			name:    "no pool in the cache, and the API server cannot say",
			cached:  poolless,
			server:  func() []client.Object { return nil },
			readErr: apierrors.NewServiceUnavailable("etcd is down"),
			want:    "error",
		},
		{
			name:   "a pool: it, its claimants and orders are read from the API server",
			cached: func() *snapshot { return &snapshot{key: poolKey("p").NamespacedName, pool: testPool("p", 1)} },
			server: func() []client.Object {
				return []client.Object{testPool("p", 1), testSession("a", "p"), testSession("other", "q"), order.DeepCopy()}
			},
			want: "fresh", wantSessions: []string{"a"}, wantOrdered: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			funcs := interceptor.Funcs{}
			if tc.readErr != nil {
				funcs.Get = func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
					return tc.readErr
				}
			}
			server := fakeAPI(t, funcs, tc.server()...)
			r, _ := testReconciler(fakeAPI(t, interceptor.Funcs{}), server)
			cached := tc.cached()
			snap, wait, err := r.freshSnapshot(context.Background(), cached)
			switch tc.want {
			case "wait":
				if snap != nil || wait != cacheDelay || err != nil {
					t.Errorf("freshSnapshot = %v, %v, %v; want no snapshot and a wait of cacheDelay", snap, wait, err)
				}
			case "same":
				if snap != cached || wait != 0 || err != nil {
					t.Errorf("freshSnapshot = %v, %v, %v; want the cached snapshot, no wait", snap, wait, err)
				}
			case "error":
				if err == nil || snap != nil {
					t.Errorf("freshSnapshot = %v, %v, %v; want the read's error and no snapshot", snap, wait, err)
				}
			case "fresh":
				if err != nil || wait != 0 || snap == nil {
					t.Fatalf("freshSnapshot = %v, %v, %v; want a snapshot", snap, wait, err)
				}
				var names []string
				for _, s := range snap.sessions {
					names = append(names, s.Name)
				}
				if diff := cmp.Diff(tc.wantSessions, names); diff != "" {
					t.Errorf("sessions read from the API server (-want +got):\n%s", diff)
				}
				if snap.capacity.sessions != tc.wantOrdered {
					t.Errorf("the orders add %d shared licences, want %d", snap.capacity.sessions, tc.wantOrdered)
				}
				if uid := snap.uids.sessions["a"]; uid != "uid-a" {
					t.Errorf("the fresh snapshot's UID of a is %q, want uid-a", uid)
				}
				if snap.pool == cached.pool || snap.pool.ResourceVersion == "" {
					t.Error("the fresh snapshot decides on the cached pool, not on the API server's (nor its ledger parts)")
				}
			}
		})
	}
}

// TestDecideJudgesHeartbeatsOnTheOperatorsClock: a session whose agent wrote a renewTime from the
// future is judged from when the operator saw it, so it expires one heartbeatTimeout later.
func TestDecideJudgesHeartbeatsOnTheOperatorsClock(t *testing.T) {
	pool := testPool("p", 1)
	s := activeSession("a", "p")
	s.Status.RenewTime = micro(365 * 24 * time.Hour)
	snap := &snapshot{key: types.NamespacedName{Namespace: pool.Namespace, Name: "p"}, pool: pool, sessions: []*v1alpha1.SharedSession{s}}
	timeout := allocator.DefaultPolicy.HeartbeatTimeout
	if got := snap.decide(t0.Add(timeout)).Sessions[0]; got.Phase != v1alpha1.SessionActive {
		t.Fatalf("without the operator's clock the renewTime is taken as written: got %s", got.Phase)
	}
	snap.renewedAt = map[types.UID]time.Time{s.UID: t0}
	if got := snap.decide(t0.Add(timeout)).Sessions[0]; got.Phase != v1alpha1.SessionEnded || got.EndReason != v1alpha1.EndHeartbeatExpired {
		t.Errorf("seen at t0, the session at t0+%s is %s/%s, want Ended/HeartbeatExpired", timeout, got.Phase, got.EndReason)
	}
}
