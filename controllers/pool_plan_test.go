package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/event"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

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
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 31, Message: "m", Transition: allocator.SessionQueued}, // as the allocator reports a first wait
	}}
	var waits poolMemory
	snap := &snapshot{sessions: sessions}
	plan := func(now time.Time) writePlan {
		p := planWrites(snap, res, now, waits.waitsOf(snap.sessions))
		waits.noteWaits(p.quietStarted, nil, now)
		return p
	}
	p := plan(t0)
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
	if p = plan(t0.Add(announceWaitAfter / 2)); len(p.other) != 1 {
		t.Errorf("half-way through its grace the new session is written: %v", names(p.other))
	}
	p = plan(t0.Add(announceWaitAfter))
	if diff := cmp.Diff([]string{"next", "new"}, names(p.other)); diff != "" {
		t.Errorf("after announceWaitAfter (-want +got):\n%s", diff)
	}
	if len(waits.quiet) != 1 {
		t.Errorf("a wait is forgotten before the watch shows it announced: %v", waits.quiet)
	}
	// The watch brings the announcement back: the wait is forgotten then.
	announced := p.other[1].next.(*v1alpha1.SharedSession)
	waits.watchPredicate(func() time.Time { return t0 }).Update(event.UpdateEvent{ObjectOld: sessions[4], ObjectNew: announced})
	if len(waits.quiet) != 0 {
		t.Errorf("an announced wait is still remembered: %v", waits.quiet)
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
	res.Seats[1].Transition = allocator.SeatWaits // the reason changed, as the allocator reports it
	p := planWrites(&snapshot{seats: seats}, res, t0, noWaits)
	if len(p.tail) != 1 || p.tail[0].next.GetName() != "counts" {
		t.Errorf("tail = %v, want only the seat whose numbers moved", p.tail)
	}
	if len(p.other) != 1 || p.other[0].next.GetName() != "reason" || len(p.other[0].notes) != 1 {
		t.Errorf("other = %v, want the seat whose reason changed, with its event", p.other)
	}
}

func TestPlanSortsByLicence(t *testing.T) {
	session := func(name string, phase v1alpha1.SessionPhase) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Generation: 1},
			Status: v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: phase}}
	}
	sessions := []*v1alpha1.SharedSession{
		session("releases", v1alpha1.SessionActive),
		session("granted", v1alpha1.SessionWaiting),
		session("rejected", v1alpha1.SessionWaiting),
		session("expired-record", v1alpha1.SessionEnded),
		session("requeued", v1alpha1.SessionActive),
	}
	res := allocator.Result{Sessions: []allocator.SessionResult{
		{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndTerminated, Licence: allocator.Loses, Transition: allocator.SessionEnded},
		{Phase: v1alpha1.SessionActive, Licence: allocator.Gains, Transition: allocator.SessionGranted},
		{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndRejected, Transition: allocator.SessionEnded},
		{Phase: v1alpha1.SessionEnded, Delete: true},
		{Phase: v1alpha1.SessionWaiting, QueuePosition: 1, Licence: allocator.Loses},
	}}
	pool := &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Name: "p", ResourceVersion: "7"}}
	p := planWrites(&snapshot{pool: pool, sessions: sessions}, res, t0, noWaits)
	names := func(ws []statusWrite) (out []string) {
		for _, w := range ws {
			out = append(out, w.next.GetName())
		}
		return out
	}
	if diff := cmp.Diff([]string{"releases", "requeued"}, names(p.revoke)); diff != "" {
		t.Errorf("written before the ledger: what loses a licence (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"granted", "rejected"}, names(p.checked)); diff != "" {
		t.Errorf("written after the ledger's check: grants and ends decided on it (-want +got):\n%s", diff)
	}
	if len(p.remove) != 1 || p.remove[0].Name != "expired-record" {
		t.Errorf("remove = %v, want the record past its retention", p.remove)
	}
	if p.pool == nil || p.checkLedger {
		t.Errorf("the pool's status changed (usage, conditions): it is written, not merely checked (pool %v, check %v)", p.pool != nil, p.checkLedger)
	}
	for _, w := range sessions {
		if w.Status.Phase == "" || w.Status.Conditions != nil {
			t.Errorf("planning changed the cached session %s", w.Name)
		}
	}

	// With the pool's status already as decided, a grant still checks the ledger.
	pool.Status = p.pool.next.(*v1alpha1.LicensePool).Status
	if p = planWrites(&snapshot{pool: pool, sessions: sessions}, res, t0, noWaits); p.pool != nil || !p.checkLedger {
		t.Errorf("an unchanged pool with grants to write: pool %v, check %v; want a check only", p.pool != nil, p.checkLedger)
	}
}

// TestPlanAndClaimantsBeingWritten: a licence never moves on a claimant the slow lane is
// writing: the pass waits for the answer.
func TestPlanAndClaimantsBeingWritten(t *testing.T) {
	w := func(uid string) statusWrite {
		s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid)}}
		return statusWrite{orig: s, next: s}
	}
	plan := writePlan{revoke: []statusWrite{w("gone")}, checked: []statusWrite{w("granted")},
		other: []statusWrite{w("queued")}, head: []statusWrite{w("second")}, tail: []statusWrite{w("far")}}
	for _, uid := range []string{"gone", "granted"} {
		if got := plan.waitsForLane(map[types.UID]bool{types.UID(uid): true}); !cmp.Equal(got, []types.UID{types.UID(uid)}) {
			t.Errorf("%s is being written: the pass must wait before it moves its licence", uid)
		}
	}
	if got := plan.waitsForLane(map[types.UID]bool{"queued": true, "second": true, "far": true}); got != nil {
		t.Error("only claimants whose writes move no licence are being written: no need to wait")
	}
	if plan.waitsForLane(nil) != nil {
		t.Error("nothing being written: no wait")
	}
}

// TestPlanLeavesEndedRecordsAndSendsNoticesFirst: an Ended session is never written again (the
// API server refuses it; a delete held by a finalizer raises its generation), a notice and its
// withdrawal go out with the grants rather than with the paced writes, and no write shares a
// pointer with the cached object the reply is decoded over.
func TestPlanLeavesEndedRecordsAndSendsNoticesFirst(t *testing.T) {
	ended := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: "ended", UID: "ended", Generation: 3},
		Status: v1alpha1.SharedSessionStatus{ObservedGeneration: 2, Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndTerminated, EndedAt: micro(0), Message: "m"}}
	active := func(name string, endsAt *metav1.MicroTime) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Generation: 1},
			Status: v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionActive, GrantedAt: micro(0), RenewTime: micro(time.Second), EndsAt: endsAt, Message: "m"}}
	}
	ends := t0.Add(time.Minute)
	sessions := []*v1alpha1.SharedSession{ended, active("noticed", nil), active("reprieved", micro(time.Minute))}
	res := allocator.Result{Sessions: []allocator.SessionResult{
		{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndTerminated, EndedAt: &t0, Message: "m"},
		{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, Message: "notice", Transition: allocator.SessionNoticed},
		{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"},
	}}
	p := planWrites(&snapshot{sessions: sessions}, res, t0, noWaits)
	var checked []string
	for _, w := range p.checked {
		checked = append(checked, w.next.GetName())
		if orig, next := w.orig.(*v1alpha1.SharedSession), w.next.(*v1alpha1.SharedSession); next.Status.RenewTime == orig.Status.RenewTime {
			t.Errorf("%s: the write's renewTime is the cached object's pointer", orig.Name)
		}
	}
	if diff := cmp.Diff([]string{"noticed", "reprieved"}, checked); diff != "" {
		t.Errorf("written with the grants (-want +got):\n%s", diff)
	}
	if len(p.revoke)+len(p.other)+len(p.head)+len(p.tail) != 0 {
		t.Errorf("other writes planned: revoke %d, other %d, head %d, tail %d; the Ended record must be left alone", len(p.revoke), len(p.other), len(p.head), len(p.tail))
	}
}
