package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func mt(d time.Duration) *metav1.Time         { t := metav1.NewTime(t0.Add(d)); return &t }
func micro(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(t0.Add(d)); return &t }

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

func TestRequeueAt(t *testing.T) {
	if got := requeueAt(time.Time{}, t0); got.RequeueAfter != 0 {
		t.Errorf("no deadline: got %v", got)
	}
	if got := requeueAt(t0.Add(time.Second), t0).RequeueAfter; got != time.Second+5*time.Millisecond {
		t.Errorf("future deadline: got %v", got)
	}
	if got := requeueAt(t0.Add(-time.Second), t0).RequeueAfter; got <= 0 || got > 10*time.Millisecond {
		t.Errorf("a passed deadline is acted on at once: got %v", got)
	}
}

func TestCapacityFor(t *testing.T) {
	order := func(name string, mut func(*v1alpha1.CustomerOrder), items ...v1alpha1.OrderItem) v1alpha1.CustomerOrder {
		o := v1alpha1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.CustomerOrderSpec{Customer: "acme", Items: items}}
		if mut != nil {
			mut(&o)
		}
		return o
	}
	item := func(pool string, seats, sessions int32) v1alpha1.OrderItem {
		return v1alpha1.OrderItem{Product: "rs", PoolName: pool, Seats: seats, ConcurrentSessions: sessions}
	}
	products := map[string]string{"p": "rs", "video": "video-desk"}
	productOf := func(n string) (string, bool) { p, ok := products[n]; return p, ok }
	orders := []v1alpha1.CustomerOrder{
		order("a", nil, item("p", 2, 1)),
		order("b", func(o *v1alpha1.CustomerOrder) { o.Spec.ExpiresAt = mt(time.Hour) }, item("p", 3, 0), item("new", 1, 1)),
		order("later", func(o *v1alpha1.CustomerOrder) { o.Spec.StartsAt = mt(2 * time.Hour) }, item("p", 10, 10)),
		order("over", func(o *v1alpha1.CustomerOrder) { o.Spec.ExpiresAt = mt(-time.Hour) }, item("p", 10, 10)),
		order("gone", func(o *v1alpha1.CustomerOrder) { o.Spec.Cancelled = true }, item("p", 10, 10)),
		order("invalid", nil, item("p", 10, 10), item("video", 1, 1)),
		order("elsewhere", func(o *v1alpha1.CustomerOrder) { o.Spec.Customer = "other" }, item("p", 10, 10)),
	}
	got := capacityFor(orders, "acme", "p", "rs", t0, productOf)
	want := orderCapacity{
		orders: []v1alpha1.PoolOrder{{Name: "a", Seats: 2, ConcurrentSessions: 1}, {Name: "b", Seats: 3, ExpiresAt: mt(time.Hour)}},
		seats:  5, sessions: 1,
		changes: []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(orderCapacity{})); diff != "" {
		t.Errorf("capacity (-want +got):\n%s", diff)
	}
	if l := addLimit(nil, 5); l != nil {
		t.Errorf("an unlimited pool stays unlimited, got %d", *l)
	}
	if l := addLimit(ptr.To[int32](1), 5); *l != 6 {
		t.Errorf("limits add up, got %d", *l)
	}
}

func TestOrderPhase(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.CustomerOrderSpec
		want v1alpha1.OrderPhase
	}{
		{"unassigned", v1alpha1.CustomerOrderSpec{}, v1alpha1.OrderUnassigned},
		{"active", v1alpha1.CustomerOrderSpec{Customer: "acme"}, v1alpha1.OrderActive},
		{"scheduled", v1alpha1.CustomerOrderSpec{Customer: "acme", StartsAt: mt(time.Second)}, v1alpha1.OrderScheduled},
		{"starts now", v1alpha1.CustomerOrderSpec{Customer: "acme", StartsAt: mt(0)}, v1alpha1.OrderActive},
		{"expires now", v1alpha1.CustomerOrderSpec{Customer: "acme", ExpiresAt: mt(0)}, v1alpha1.OrderExpired},
		{"cancelled wins", v1alpha1.CustomerOrderSpec{Customer: "acme", Cancelled: true, ExpiresAt: mt(-time.Hour)}, v1alpha1.OrderCancelled},
		{"cancelled before assignment", v1alpha1.CustomerOrderSpec{Cancelled: true}, v1alpha1.OrderCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := orderPhase(&v1alpha1.CustomerOrder{Spec: tc.spec}, t0); got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDecideOrder(t *testing.T) {
	o := &v1alpha1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-1", Generation: 3},
		Spec: v1alpha1.CustomerOrderSpec{Customer: "acme", ExpiresAt: mt(time.Hour), Items: []v1alpha1.OrderItem{
			{Product: "rs", Seats: 5}, {Product: "vd", PoolName: "video", ConcurrentSessions: 2}}}}
	pool := func(product string) *v1alpha1.LicensePool {
		return &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{Product: product}}
	}
	tests := []struct {
		name       string
		world      orderWorld
		wantPhase  v1alpha1.OrderPhase
		wantReason string
		wantCreate []string
	}{
		{"missing namespace", orderWorld{}, v1alpha1.OrderActive, "CustomerNotFound", nil},
		{"creates missing pools", orderWorld{namespaceFound: true, pools: map[string]*v1alpha1.LicensePool{"rs": nil, "video": pool("vd")}}, v1alpha1.OrderActive, "Fulfilled", []string{"rs"}},
		{"another product", orderWorld{namespaceFound: true, pools: map[string]*v1alpha1.LicensePool{"rs": pool("other"), "video": nil}}, v1alpha1.OrderInvalid, "ProductMismatch", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOrder(o, tc.world, t0)
			var created []string
			for _, p := range d.create {
				created = append(created, p.Name)
				if p.Labels[OrderCreatedLabel] != "po-1" || *p.Spec.Seats != 0 || len(p.OwnerReferences) != 0 {
					t.Errorf("created pool %+v", p)
				}
			}
			var reason string
			for _, c := range d.status.Conditions {
				if c.Type == v1alpha1.ConditionFulfilled {
					reason = c.Reason
				}
				if c.ObservedGeneration != 3 {
					t.Errorf("condition %s observes generation %d", c.Type, c.ObservedGeneration)
				}
			}
			if d.status.Phase != tc.wantPhase || reason != tc.wantReason || !cmp.Equal(created, tc.wantCreate) {
				t.Errorf("got phase %s reason %s create %v", d.status.Phase, reason, created)
			}
			if !d.next.Equal(t0.Add(time.Hour)) {
				t.Errorf("next = %v, want the expiry", d.next)
			}
		})
	}
}

func TestPoolConditions(t *testing.T) {
	pool := &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Generation: 4},
		Spec: v1alpha1.LicensePoolSpec{Product: "rs", ExpiresAt: mt(time.Hour)}}
	tests := []struct {
		name string
		res  allocator.Result
		want map[string]string // type → status/reason
	}{
		{"healthy", allocator.Result{Usage: allocator.Usage{SeatLimit: ptr.To[int32](2), SeatsBound: 1}},
			map[string]string{"Ready": "True/Reconciled", "Expired": "False/NotExpired", "ExpiringSoon": "False/NotExpiringSoon",
				"SeatsExhausted": "False/SeatsAvailable", "SessionsExhausted": "False/SessionsAvailable"}},
		{"full and expiring", allocator.Result{ExpiringSoon: true, Usage: allocator.Usage{SeatLimit: ptr.To[int32](2), SeatsBound: 2, SessionLimit: ptr.To[int32](0)}},
			map[string]string{"Ready": "True/Reconciled", "Expired": "False/NotExpired", "ExpiringSoon": "True/ExpiringSoon",
				"SeatsExhausted": "True/SeatsExhausted", "SessionsExhausted": "True/SessionsExhausted"}},
		{"expired", allocator.Result{Expired: true},
			map[string]string{"Ready": "False/Expired", "Expired": "True/Expired", "ExpiringSoon": "False/Expired",
				"SeatsExhausted": "False/SeatsAvailable", "SessionsExhausted": "False/SessionsAvailable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := poolStatus(pool, tc.res, orderCapacity{}, holderUIDs{})
			got := map[string]string{}
			for _, c := range st.Conditions {
				got[c.Type] = string(c.Status) + "/" + c.Reason
				if c.ObservedGeneration != 4 || c.Message == "" {
					t.Errorf("condition %s: generation %d, message %q", c.Type, c.ObservedGeneration, c.Message)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if st.ObservedGeneration != 4 {
				t.Errorf("observedGeneration = %d", st.ObservedGeneration)
			}
		})
	}
}

func TestQueuePositionWritesWait(t *testing.T) {
	waiting := func(name string, pos int32) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{
			ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
			Status:     v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionWaiting, QueuePosition: pos},
		}
	}
	sessions := []*v1alpha1.SharedSession{waiting("next", 2), waiting("second", 3), waiting("head", 21), waiting("tail", 30), waiting("new", 0)}
	sessions[4].Status = v1alpha1.SharedSessionStatus{}
	sessions[4].UID = "new-uid"
	res := allocator.Result{Sessions: []allocator.SessionResult{
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 1, Message: "m"},
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 2, Message: "m"},
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 20, Message: "m"},
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 29, Message: "m"},
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 31, Message: "m"},
	}}
	var waits quietWaits
	p := planWrites(nil, sessions, res, t0, &waits)
	names := func(ws []statusWrite) (out []string) {
		for _, w := range ws {
			out = append(out, w.next.GetName())
		}
		return out
	}
	for _, c := range []struct {
		what string
		got  []statusWrite
		want []string
	}{
		{"written at once: the new head of the queue", p.other, []string{"next"}},
		{"left for the head refresh", p.head, []string{"second", "head"}},
		{"left for the tail refresh", p.tail, []string{"tail"}},
	} {
		if diff := cmp.Diff(c.want, names(c.got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
	if want := t0.Add(announceWaitAfter); !p.announceAt.Equal(want) {
		t.Errorf("the new session's wait is announced at %v, want %v", p.announceAt, want)
	}
	if p = planWrites(nil, sessions, res, t0.Add(announceWaitAfter/2), &waits); len(p.other) != 1 {
		t.Errorf("half-way through its grace the new session is written: %v", names(p.other))
	}
	p = planWrites(nil, sessions, res, t0.Add(announceWaitAfter), &waits)
	if diff := cmp.Diff([]string{"next", "new"}, names(p.other)); diff != "" {
		t.Errorf("after announceWaitAfter (-want +got):\n%s", diff)
	}
	if len(waits.seen) != 0 {
		t.Errorf("an announced wait is still remembered: %v", waits.seen)
	}

	var tr refresh
	pool := types.NamespacedName{Namespace: "acme", Name: "p"}
	if due, _ := tr.due(pool, t0, tailRefreshEvery); !due {
		t.Error("a pool never refreshed is due")
	}
	tr.written(pool, t0)
	if due, at := tr.due(pool, t0.Add(time.Second), tailRefreshEvery); due || !at.Equal(t0.Add(tailRefreshEvery)) {
		t.Errorf("just refreshed: due=%v at %v", due, at)
	}
	if due, _ := tr.due(pool, t0.Add(tailRefreshEvery), tailRefreshEvery); !due {
		t.Error("due again after tailRefreshEvery")
	}
}

func TestStillHolds(t *testing.T) {
	now := metav1.Now()
	sess := func(pool string, phase v1alpha1.SessionPhase, deleting bool) *v1alpha1.SharedSession {
		s := &v1alpha1.SharedSession{Spec: v1alpha1.SharedSessionSpec{PoolName: pool}, Status: v1alpha1.SharedSessionStatus{Phase: phase}}
		if deleting {
			s.DeletionTimestamp = &now
		}
		return s
	}
	tests := []struct {
		name string
		obj  *v1alpha1.SharedSession
		want bool
	}{
		{"the cache has not seen it yet", sess("p", v1alpha1.SessionActive, false), true},
		{"recreated under the same name for another pool", sess("q", v1alpha1.SessionActive, false), false},
		{"being deleted, already ended", sess("p", v1alpha1.SessionEnded, true), false},
		{"being deleted, still Active", sess("p", v1alpha1.SessionActive, true), true},
	}
	for _, tc := range tests {
		if got := stillHolds(tc.obj, "p"); got != tc.want {
			t.Errorf("%s: stillHolds = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWaitingSeatCountsWait(t *testing.T) {
	pending := func(name string, reason v1alpha1.SeatReason, msg string) *v1alpha1.SeatAssignment {
		return &v1alpha1.SeatAssignment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
			Status:     v1alpha1.SeatAssignmentStatus{ObservedGeneration: 1, Phase: v1alpha1.SeatPending, Reason: reason, Message: msg},
		}
	}
	seats := []*v1alpha1.SeatAssignment{
		pending("counts", v1alpha1.SeatReasonLicensesNotAvailable, "no seat free in pool p (2/2 bound); it binds when one frees"),
		pending("reason", v1alpha1.SeatReasonPoolNotFound, "pool p does not exist"),
	}
	res := allocator.Result{Seats: []allocator.SeatResult{
		{Phase: v1alpha1.SeatPending, Reason: v1alpha1.SeatReasonLicensesNotAvailable, Message: "no seat free in pool p (3/3 bound); it binds when one frees"},
		{Phase: v1alpha1.SeatPending, Reason: v1alpha1.SeatReasonLicensesNotAvailable, Message: "no seat free in pool p (3/3 bound); it binds when one frees"},
	}}
	p := planWrites(seats, nil, res, t0, &quietWaits{})
	if len(p.tail) != 1 || p.tail[0].next.GetName() != "counts" {
		t.Errorf("tail = %v, want only the seat whose numbers moved", p.tail)
	}
	if len(p.other) != 1 || p.other[0].next.GetName() != "reason" || len(p.other[0].notes) != 1 {
		t.Errorf("other = %v, want the seat whose reason changed, with its event", p.other)
	}
}

func TestLedgerUIDs(t *testing.T) {
	cached := map[string]types.UID{"a": "uid-a", "b": "uid-b2"}
	tests := []struct {
		name   string
		ledger v1alpha1.Grants
		// names the allocator sees; holders the cache cannot vouch for, with nothing deleted
		// and with "uid-c" reported deleted by the watch
		names              []string
		unsure, unsureGone []string
	}{
		{"ledger from before UIDs: names are trusted", v1alpha1.Grants{Holders: []string{"a", "b", "c"}},
			[]string{"a", "b", "c"}, []string{"c"}, []string{"c"}},
		{"same UIDs", grants([]string{"a", "b"}, "uid-a", "uid-b2"),
			[]string{"a", "b"}, nil, nil},
		{"b recreated: the old grant is not the new b's", grants([]string{"a", "b"}, "uid-a", "uid-b1"),
			[]string{"a"}, []string{"b"}, []string{"b"}},
		{"c missing from the cache; deleted by the watch's word", grants([]string{"a", "c"}, "uid-a", "uid-c"),
			[]string{"a", "c"}, []string{"c"}, nil},
		{"an older operator replaced b by c and left the UIDs: all are known by name", v1alpha1.Grants{Holders: []string{"a", "c"}, UIDs: []types.UID{"uid-a", "uid-b2"}, UIDsFor: v1alpha1.HoldersHash([]string{"a", "b"})},
			[]string{"a", "c"}, []string{"c"}, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ledgerNames(&tc.ledger, cached); !cmp.Equal(got, tc.names) {
				t.Errorf("ledgerNames = %v, want %v", got, tc.names)
			}
			r := &PoolReconciler{}
			if got := entryNames(r.unsure(&tc.ledger, cached)); !cmp.Equal(got, tc.unsure) {
				t.Errorf("unsure = %v, want %v", got, tc.unsure)
			}
			r.gone.deleted("uid-c", t0)
			if got := entryNames(r.unsure(&tc.ledger, cached)); !cmp.Equal(got, tc.unsureGone) {
				t.Errorf("unsure with uid-c deleted = %v, want %v", got, tc.unsureGone)
			}
		})
	}
}

// grants builds a ledger list whose uids were recorded for its holders.
func grants(holders []string, uids ...types.UID) v1alpha1.Grants {
	return v1alpha1.Grants{Holders: holders, UIDs: uids, UIDsFor: v1alpha1.HoldersHash(holders)}
}

func entryNames(es []ledgerEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

func TestLedgerGrants(t *testing.T) {
	old := grants([]string{"a", "x"}, "uid-a-old", "uid-x")
	got := ledgerGrants([]string{"a", "b", "x", "y"}, &old, map[string]types.UID{"a": "uid-a", "b": "uid-b"})
	want := grants([]string{"a", "b", "x", "y"}, "uid-a", "uid-b", "uid-x", "")
	if !cmp.Equal(got, &want) {
		t.Errorf("ledgerGrants = %+v, want %+v (the cache's UID first, then the old ledger's, else unknown)", got, want)
	}
	if got := ledgerGrants([]string{}, nil, nil); got.UIDs != nil || got.Holders == nil {
		t.Errorf("an empty ledger = %+v, want empty holders and no uids", got)
	}
}

func TestWatchMemory(t *testing.T) {
	var e echoes
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
	if e.rvs != nil {
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

	var g gone
	g.deleted("old", t0)
	g.deleted("new", t0.Add(goneFor+time.Second)) // sweeps what is older than goneFor
	if g.has("old") || !g.has("new") || g.has("") {
		t.Errorf("gone after a sweep: old %v new %v empty %v, want false true false", g.has("old"), g.has("new"), g.has(""))
	}
}

// eventLog is a recorder that keeps what it is asked to record.
type eventLog struct{ events []string }

func (l *eventLog) Eventf(regarding, _ runtime.Object, typ, reason, action, note string, args ...any) {
	o := regarding.(client.Object)
	l.events = append(l.events, fmt.Sprintf("%T %s: %s %s %s", o, o.GetName(), typ, reason, fmt.Sprintf(note, args...)))
}

func (l *eventLog) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, typ, reason, action, note string, args ...any) {
	l.Eventf(regarding, related, typ, reason, action, note, args...)
}

func TestRecordGroupsNotes(t *testing.T) {
	sess := func(name string) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name}, Spec: v1alpha1.SharedSessionSpec{PoolName: "p"}}
	}
	granted := func(name string) note { return note{sess(name), "Normal", "Granted", actionGrant, "granted " + name} }
	var log eventLog
	r := &PoolReconciler{Recorder: &log}
	r.record(nil, []note{granted("a"), granted("b"), {sess("d"), "Normal", "Queued", "Queue", "waiting at 1"}, granted("c")})
	want := []string{
		"*v1alpha1.LicensePool p: Normal Granted 3 sessions of pool p: a, b, c",
		"*v1alpha1.SharedSession d: Normal Queued waiting at 1",
	}
	if diff := cmp.Diff(want, log.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	var many []note
	for i := range 500 {
		many = append(many, granted(fmt.Sprintf("session-%03d", i)))
	}
	got := summarize(many)
	if len(got) > 1024 || !strings.HasPrefix(got, "500 sessions of pool p: session-000, session-001") || !strings.HasSuffix(got, " more") {
		t.Errorf("summary of 500 (%d bytes) = %q", len(got), got)
	}
}
