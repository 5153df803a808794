package controllers

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestWatchMemory(t *testing.T) {
	var e poolMemory
	s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "u", ResourceVersion: "11"}}
	e.wrote("11", s, t0) // a write that changed nothing brings no event back
	if e.isEcho(s) {
		t.Fatal("an unchanged write was taken for an echo")
	}
	e.wrote("10", s, t0)
	cached := s.DeepCopy()
	cached.ResourceVersion = "10"
	if got := caughtUp(&e, t0, cached); got != s {
		t.Error("a snapshot of a cache without our write does not take the object as we wrote it")
	}
	if got := caughtUp(&e, t0.Add(echoWait), cached); got != cached {
		t.Error("a write never seen is still taken past echoWait")
	}
	if got := caughtUp(&e, t0, s); got != s {
		t.Error("a cache holding our write is not taken as it is")
	}
	if !e.isEcho(s) {
		t.Error("our own write's echo was not recognised")
	}
	if e.isEcho(s) {
		t.Error("an echo is recognised once only")
	}
	if e.writes != nil {
		t.Error("an empty memory of writes is kept")
	}

	// The echo outran the write's response: the write is recorded after its echo went by.
	// The next event (a heartbeat, say) is newer, and the pass must not wait for an echo
	// that will never come.
	e.wrote("10", s, t0)
	later := s.DeepCopy()
	later.ResourceVersion = "12"
	if e.isEcho(later) {
		t.Error("someone else's later write was taken for our echo")
	}
	if got := caughtUp(&e, t0, later); got != later {
		t.Error("a cache with a state newer than our write is taken as behind it")
	}

	// Two writes in a row, the second planned on the first's answer: the first's echo arrives
	// after the second's answer. It is the state the second replaced, not news: the memory of
	// the second stays, and a pass still decides on what the second left, not on the first's.
	var rows poolMemory
	first := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "w", ResourceVersion: "20"}}
	second := first.DeepCopy()
	second.ResourceVersion = "21"
	rows.wrote("19", first, t0)
	rows.wrote("20", second, t0)
	if !rows.isEcho(first.DeepCopy()) {
		t.Error("the late echo of our first write was taken for news")
	}
	if got := caughtUp(&rows, t0, first.DeepCopy()); got != second {
		t.Error("after the first write's late echo, a snapshot does not take the object as the second write left it")
	}
	if !rows.isEcho(second.DeepCopy()) || rows.writes != nil {
		t.Error("the second write's echo was not recognised, or its memory kept")
	}
	// A write based on the cache, not on an answer of ours: the state it was based on, seen
	// again, is not taken for our echo (someone else may have produced it).
	var single poolMemory
	single.wrote("20", second, t0)
	if single.isEcho(first.DeepCopy()) || single.writes != nil {
		t.Error("the state a write based on the cache replaced was taken for our echo")
	}

	// An echo that outran its answer leaves the answer behind: the next write past echoWait
	// sweeps it, so that no copy of the object stays.
	var sw poolMemory
	sw.wrote("1", s, t0)
	other := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "v", ResourceVersion: "3"}}
	sw.wrote("2", other, t0.Add(echoWait))
	if _, kept := sw.writes["u"]; kept || len(sw.writes) != 1 {
		t.Errorf("an answer past echoWait is kept: %v", sw.writes)
	}

	var g poolMemory
	claimant := func(uid types.UID) client.Object {
		return &v1alpha1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{UID: uid}}
	}
	g.objectDeleted(claimant("old"), t0)
	g.objectDeleted(claimant("new"), t0.Add(goneFor+time.Second)) // sweeps what is older than goneFor
	if g.isDeleted("old") || !g.isDeleted("new") || g.isDeleted("") {
		t.Errorf("gone after a sweep: old %v new %v empty %v, want false true false", g.isDeleted("old"), g.isDeleted("new"), g.isDeleted(""))
	}
}

func TestMemoryOfWaitsAndRefreshes(t *testing.T) {
	var m poolMemory
	m.noteWaits([]types.UID{"a", "b"}, nil, t0)
	sessions := []*v1alpha1.SharedSession{{ObjectMeta: metav1.ObjectMeta{UID: "a"}}, {ObjectMeta: metav1.ObjectMeta{UID: "c"}}}
	waits := m.waitsOf(sessions) // a pass's, read once
	if at, ok := waits("a"); !ok || !at.Equal(t0) {
		t.Errorf("a first seen at %v (%v), want %v", at, ok, t0)
	}
	m.noteWaits(nil, []types.UID{"a"}, t0.Add(time.Second))
	if at, ok := waits("a"); !ok || !at.Equal(t0) {
		t.Errorf("the pass reads a first seen at %v (%v), want %v as when it read", at, ok, t0)
	}
	if _, ok := waits("b"); ok {
		t.Error("the pass reads the wait of a session it does not decide on")
	}
	if _, ok := waits("c"); ok {
		t.Error("the pass reads a wait never noted")
	}
	if _, ok := m.waitsOf(sessions)("a"); ok {
		t.Error("an announced wait is still remembered")
	}
	m.objectDeleted(&v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "b"}}, t0)
	if m.quiet != nil {
		t.Errorf("a deleted session's wait is still remembered, or the empty map is kept: %v", m.quiet)
	}

	pool := types.NamespacedName{Namespace: "acme", Name: "p"}
	m.passEnds(pool, nil, []slowWrite{{statusWrite: statusWrite{orig: waitingSession("w", "p")}, class: laneTail}}, true, false, t0)
	m.poolGone(pool)
	if m.lanes[pool] != nil {
		t.Errorf("a pool that is gone still has a slow lane: %+v", m.lanes[pool])
	}

	// A deleted pool is not a claimant: its UID is not remembered as a deleted holder.
	m.objectDeleted(&v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{UID: "pool-uid"}}, t0)
	if m.isDeleted("pool-uid") {
		t.Error("a deleted pool was remembered as a deleted claimant")
	}
}

func TestRenewalsFromTheFuture(t *testing.T) {
	session := func(uid types.UID, renew time.Duration) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: v1alpha1.SharedSessionStatus{RenewTime: micro(renew)}}
	}
	var m poolMemory
	fast := session("fast", time.Hour) // an agent whose clock runs an hour ahead
	honest := session("honest", renewSkew)
	m.sawRenewal(fast, t0.Add(10*time.Second)) // the watch delivered its heartbeat at t0+10s
	m.sawRenewal(honest, t0)

	got := m.renewedAt(t0.Add(30*time.Second), []*v1alpha1.SharedSession{fast, honest})
	if want := (map[types.UID]time.Time{"fast": t0.Add(10 * time.Second)}); !cmp.Equal(got, want) {
		t.Errorf("renewedAt = %v, want the fast agent's heartbeat counted from when it was seen, %v", got, want)
	}

	// A value never seen change (written before the operator started) counts from its first sight.
	restarted := session("restarted", 50*365*24*time.Hour)
	if got := m.renewedAt(t0.Add(time.Minute), []*v1alpha1.SharedSession{restarted}); !got["restarted"].Equal(t0.Add(time.Minute)) {
		t.Errorf("a future renewTime first seen by a pass counts from %v, want %v", got["restarted"], t0.Add(time.Minute))
	}
	if got := m.renewedAt(t0.Add(2*time.Minute), []*v1alpha1.SharedSession{restarted}); !got["restarted"].Equal(t0.Add(time.Minute)) {
		t.Errorf("seen again unchanged, it still counts from its first sight; got %v", got["restarted"])
	}

	// The next heartbeat, still fast, counts from its own arrival; one on time forgets the entry.
	fast.Status.RenewTime = micro(time.Hour + 20*time.Second)
	m.sawRenewal(fast, t0.Add(30*time.Second))
	if got := m.renewedAt(t0.Add(31*time.Second), []*v1alpha1.SharedSession{fast}); !got["fast"].Equal(t0.Add(30 * time.Second)) {
		t.Errorf("the next fast heartbeat counts from %v, want %v", got["fast"], t0.Add(30*time.Second))
	}
	fast.Status.RenewTime = micro(40 * time.Second)
	m.sawRenewal(fast, t0.Add(40*time.Second))
	if _, ok := m.renewals["fast"]; ok {
		t.Error("a heartbeat on time did not forget the fast one")
	}
	m.objectDeleted(restarted, t0)
	if m.renewals != nil {
		t.Errorf("a deleted session's renewal is still remembered: %v", m.renewals)
	}
	// Nearly every session renews on time: no entry, and no map.
	if got := m.renewedAt(t0, []*v1alpha1.SharedSession{session("x", 0), session("y", -time.Second)}); got != nil {
		t.Errorf("renewedAt of sessions on time = %v, want nil", got)
	}
}

// caughtUp is the session a snapshot of the cache showing cached decides on.
func caughtUp(m *poolMemory, now time.Time, cached *v1alpha1.SharedSession) *v1alpha1.SharedSession {
	s := &snapshot{sessions: []*v1alpha1.SharedSession{cached}}
	m.catchUp(now, s)
	return s.sessions[0]
}

// A pass waits for the cache to show a ledger part we created: without it, the part's holders
// would look like claimants without a licence.
func TestCatchUpWaitsForACreatedPart(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	part := &v1alpha1.LicenseLedger{}
	part.UID, part.ResourceVersion = "uid-part-1", "7"
	m.wrote("", part, t0)
	m.createdPart(pool, part, t0)
	behind := func(now time.Time, parts ...*v1alpha1.LicenseLedger) bool {
		_, b := m.catchUp(now, &snapshot{key: pool, partObjs: parts})
		return b
	}
	if !behind(t0) {
		t.Error("the cache does not show the part we created: the pass must wait")
	}
	if behind(t0, part) {
		t.Error("the cache shows the part as we wrote it: no wait")
	}
	m.createdPart(pool, part, t0)
	if behind(t0.Add(echoWait)) {
		t.Error("past echoWait the part is taken as seen, as our other writes are")
	}
}

// An echo of the slow lane's write shows what the write sends: a state with another preemptor,
// or without the Overdraft condition the write adds, is someone else's (or a newer) state.
func TestSameWriteComparesPolicyFields(t *testing.T) {
	ends := t0.Add(30 * time.Second)
	usage := allocator.Usage{SessionLimit: ptr.To[int32](1), Overdraft: 1}
	written := func(r allocator.SessionResult) *v1alpha1.SharedSession {
		s := activeSession("a", "p")
		s.Status = sessionStatus(s, r, usage)
		return s
	}
	noticed := allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, PreemptedBy: "b", Message: "m"}
	other := noticed
	other.PreemptedBy = "c"
	over := allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "m", Overdraft: true}
	within := over
	within.Overdraft = false
	tests := []struct {
		name      string
		want, got *v1alpha1.SharedSession
		same      bool
	}{
		{"the same notice", written(noticed), written(noticed), true},
		{"another preemptor", written(noticed), written(other), false},
		{"the Overdraft condition missing", written(over), written(within), false},
	}
	for _, tc := range tests {
		if got := sameWrite(tc.want, tc.got); got != tc.same {
			t.Errorf("%s: sameWrite = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestClaimPromised: a grant on a promise is claimed once until let go, and never again when
// planned on the state a grant of ours that landed replaced, even once its echo has cleared
// the memory of our writes.
func TestClaimPromised(t *testing.T) {
	grant := func(rv string) statusWrite {
		s := waitingSession("w1", "p")
		s.ResourceVersion = rv
		return statusWrite{orig: s, next: s.DeepCopy(), grant: true}
	}
	var m poolMemory
	first := grant("5")
	if got := m.claimPromised([]statusWrite{first}); len(got) != 1 {
		t.Fatalf("claimed %d, want the grant", len(got))
	}
	if got := m.claimPromised([]statusWrite{grant("5")}); len(got) != 0 {
		t.Error("a grant being written is claimed twice")
	}
	landed := first.next.(*v1alpha1.SharedSession)
	landed.ResourceVersion = "6"
	landed.Status.Phase = v1alpha1.SessionActive
	m.wrote("5", landed, t0)
	m.unclaimPromised([]statusWrite{first}, []statusWrite{first}, t0)
	m.isEcho(landed.DeepCopy()) // the echo clears the memory of the write
	if got := m.claimPromised([]statusWrite{grant("5")}); len(got) != 0 {
		t.Error("a grant planned on the state the landed grant replaced is claimed")
	}
	if got := m.claimPromised([]statusWrite{grant("6")}); len(got) != 1 {
		t.Error("a grant planned on the newest state is not claimed")
	}

	// A grant that failed leaves nothing behind: it may go again from the same state.
	var f poolMemory
	failed := grant("7")
	f.claimPromised([]statusWrite{failed})
	f.unclaimPromised([]statusWrite{failed}, nil, t0)
	if got := f.claimPromised([]statusWrite{grant("7")}); len(got) != 1 {
		t.Error("a grant that did not land cannot be claimed again")
	}
	// What the memory keeps goes after echoWait.
	f.unclaimPromised(nil, nil, t0.Add(echoWait))
	m.unclaimPromised(nil, nil, t0.Add(echoWait))
	if m.landedFrom != nil {
		t.Errorf("landed grants %v kept past echoWait", m.landedFrom)
	}
}

// A holder the cache no longer shows is waited for briefly: the informer takes a deleted
// object out of the cache before the watch's handlers report it.
func TestAwaitDeletions(t *testing.T) {
	var m poolMemory
	claimant := func(uid types.UID) client.Object {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: uid}}
	}
	gone, unknown, kept := ledgerEntry{name: "gone", uid: "u-gone"}, ledgerEntry{name: "unknown"}, ledgerEntry{name: "kept", uid: "u-kept"}

	m.objectDeleted(claimant("u-gone"), t0)
	if got := m.awaitDeletions([]ledgerEntry{gone, unknown}, time.Hour); len(got) != 1 || got[0].name != "unknown" {
		t.Errorf("with nothing left to wait for: got %v, want only the entry without a UID", got)
	}

	// The deletion is reported once the wait has begun (the waiter has asked to be told).
	var late poolMemory
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		for {
			late.mu.Lock()
			waiting := late.deletions != nil
			late.mu.Unlock()
			if waiting {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		late.objectDeleted(claimant("u-gone"), t0)
	}()
	// Without the report the wait would run out after 5 s and keep the entry.
	if got := late.awaitDeletions([]ledgerEntry{gone, unknown}, 5*time.Second); len(got) != 1 || got[0].name != "unknown" {
		t.Errorf("after the deletion was reported: got %v, want only the entry without a UID", got)
	}
	<-reported

	if got := late.awaitDeletions([]ledgerEntry{kept}, time.Millisecond); len(got) != 1 || got[0].name != "kept" {
		t.Errorf("a holder never reported deleted: got %v, want it kept for a read", got)
	}
}

// TestPromiseEventsAtMostOnceASecond walks a pool's Events of grants on a promise through the
// ledger's writes: held until the ledger records them, then recorded at most once a second.
func TestPromiseEventsAtMostOnceASecond(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: "ns", Name: "p"}
	grant := func(name string) []note {
		return []note{{obj: &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: name}}, reason: "Granted"}}
	}
	names := func(ns []note) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.obj.GetName())
		}
		return out
	}
	steps := []struct {
		what     string
		at       time.Duration
		hold     string // a grant on a promise that landed
		recorded bool   // the pool's status, with its ledger, was written
		want     []string
		wantDue  time.Duration // -1: nothing kept
	}{
		{what: "a grant the ledger does not record yet", at: 0, hold: "a", want: nil, wantDue: -1},
		{what: "the ledger's write, after a quiet time", at: 150 * time.Millisecond, recorded: true, want: []string{"a"}, wantDue: -1},
		{what: "the next grant", at: 200 * time.Millisecond, hold: "b", wantDue: -1},
		{what: "the next ledger write, within the second", at: 350 * time.Millisecond, recorded: true, wantDue: 1150 * time.Millisecond},
		{what: "one more grant, held for the ledger", at: 400 * time.Millisecond, hold: "c", wantDue: 1150 * time.Millisecond},
		{what: "a pass with no ledger write, still within the second", at: 1100 * time.Millisecond, wantDue: 1150 * time.Millisecond},
		{what: "the pass the second asked for: what the ledger records goes", at: 1150 * time.Millisecond, want: []string{"b"}, wantDue: -1},
		{what: "the ledger's write records c, a second not yet gone", at: 1200 * time.Millisecond, recorded: true, wantDue: 2150 * time.Millisecond},
		{what: "a pass after that second", at: 2200 * time.Millisecond, want: []string{"c"}, wantDue: -1},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if s.hold != "" {
			m.holdNotes(pool, grant(s.hold))
		}
		if s.recorded {
			m.notesRecorded(pool)
		}
		if got := names(m.dueNotes(pool, now)); !slices.Equal(got, s.want) {
			t.Errorf("%s: Events %v, want %v", s.what, got, s.want)
		}
		due := m.notesDueAt(pool)
		if s.wantDue < 0 {
			if !due.IsZero() {
				t.Errorf("%s: Events due at %v, want none kept", s.what, due.Sub(t0))
			}
		} else if !due.Equal(t0.Add(s.wantDue)) {
			t.Errorf("%s: Events due at %v, want %v", s.what, due.Sub(t0), s.wantDue)
		}
	}
	m.holdNotes(pool, grant("d"))
	m.notesRecorded(pool)
	m.poolGone(pool)
	if !m.notesDueAt(pool).IsZero() || m.dueNotes(pool, t0.Add(time.Hour)) != nil {
		t.Error("a pool gone keeps its Events")
	}
}
