package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	if !e.behind(t0, nil, nil, []*v1alpha1.SharedSession{cached}) {
		t.Error("a cache without our write is not behind")
	}
	if e.behind(t0.Add(echoWait), nil, nil, []*v1alpha1.SharedSession{cached}) {
		t.Error("a write never seen holds passes back past echoWait")
	}
	if e.behind(t0, nil, nil, []*v1alpha1.SharedSession{s}) {
		t.Error("a cache holding our write is behind")
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
	if e.behind(t0, nil, nil, []*v1alpha1.SharedSession{later}) {
		t.Error("a cache with a state newer than our write is taken as behind it")
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
	if at, ok := m.waitingSince("a"); !ok || !at.Equal(t0) {
		t.Errorf("a first seen at %v (%v), want %v", at, ok, t0)
	}
	m.noteWaits(nil, []types.UID{"a"}, t0.Add(time.Second))
	if _, ok := m.waitingSince("a"); ok {
		t.Error("an announced wait is still remembered")
	}
	m.objectDeleted(&v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "b"}}, t0)
	if m.quiet != nil {
		t.Errorf("a deleted session's wait is still remembered, or the empty map is kept: %v", m.quiet)
	}

	pool := types.NamespacedName{Namespace: "acme", Name: "p"}
	head, tail := refreshKey{pool: pool}, refreshKey{pool: pool, tail: true}
	m.refreshedAt(head, t0)
	if due, _ := m.due(tail, t0, tailRefreshEvery); !due {
		t.Error("the head's refresh made the tail wait")
	}
	m.poolGone(pool)
	if due, _ := m.due(head, t0, headRefreshEvery); !due || len(m.refreshed) != 0 {
		t.Errorf("a pool that is gone is still throttled: %v", m.refreshed)
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

// A pass waits for the cache to show a ledger part we created: without it, the part's holders
// would look like claimants without a licence.
func TestAnyStaleWaitsForACreatedPart(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	part := &v1alpha1.LicenseLedger{}
	part.UID, part.ResourceVersion = "uid-part-1", "7"
	m.wrote("", part, t0)
	m.createdPart(pool, part, t0)
	if !m.anyStale(t0, pool, nil) {
		t.Error("the cache does not show the part we created: the pass must wait")
	}
	if m.anyStale(t0, pool, []*v1alpha1.LicenseLedger{part}) {
		t.Error("the cache shows the part as we wrote it: no wait")
	}
	m.createdPart(pool, part, t0)
	if m.anyStale(t0.Add(echoWait), pool, nil) {
		t.Error("past echoWait the part is taken as seen, as our other writes are")
	}
}
