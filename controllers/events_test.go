package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestRecordGroupsNotes(t *testing.T) {
	sess := func(name string) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: name}, Spec: v1alpha1.SharedSessionSpec{PoolName: "p"}}
	}
	granted := func(name string) note {
		return note{obj: sess(name), transition: allocator.SessionGranted, typ: "Normal", reason: "Granted", action: "Grant", text: "granted " + name}
	}
	var log eventLog
	r := &PoolReconciler{Recorder: &log}
	r.recordEvents(nil, []note{granted("a"), granted("b"), {obj: sess("d"), transition: allocator.SessionQueued, typ: "Normal", reason: "Queued", action: "Queue", text: "waiting at 1"}, granted("c")})
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

func TestNotesOfTransitions(t *testing.T) {
	seat := &v1alpha1.SeatAssignment{}
	sess := &v1alpha1.SharedSession{}
	tests := []struct {
		name  string
		notes []note
		want  string // type/reason/action, or "" for no Event
	}{
		{"seat binds", seatNote(seat, allocator.SeatResult{Transition: allocator.SeatBinds}), "Normal/SeatBound/Bind"},
		{"seat revoked", seatNote(seat, allocator.SeatResult{Transition: allocator.SeatRevoked}), "Warning/SeatRevoked/Revoke"},
		{"seat switched off", seatNote(seat, allocator.SeatResult{Transition: allocator.SeatDisabled}), "Normal/SeatDisabled/Revoke"},
		{"seat waits, and why", seatNote(seat, allocator.SeatResult{Transition: allocator.SeatWaits, Reason: v1alpha1.SeatReasonDuplicateAssignee}), "Warning/DuplicateAssignee/Wait"},
		{"seat message moved", seatNote(seat, allocator.SeatResult{}), ""},
		{"session granted", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionGranted}), "Normal/Granted/Grant"},
		{"session queued", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionQueued}), "Normal/Queued/Queue"},
		{"session ended on request", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionEnded, EndReason: v1alpha1.EndTerminated}), "Normal/Terminated/End"},
		{"session ended by a deadline", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionEnded, EndReason: v1alpha1.EndIdleTimeout}), "Warning/IdleTimeout/End"},
		{"session position moved", sessionNote(sess, allocator.SessionResult{}), ""},
		{"session under notice", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionNoticed}), "Warning/EndingSoon/Notice"},
		{"session under notice of preemption", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionNoticed, PreemptedBy: "urgent"}), "Warning/Preempting/Preempt"},
		{"session preempted", sessionNote(sess, allocator.SessionResult{Transition: allocator.SessionEnded, EndReason: v1alpha1.EndPreempted}), "Warning/Preempted/End"},
		{"session beyond the limit, with no transition", sessionNote(sess, allocator.SessionResult{Overdraft: true}), ""},
	}
	for _, tc := range tests {
		got := ""
		if len(tc.notes) == 1 {
			n := tc.notes[0]
			got = n.typ + "/" + n.reason + "/" + n.action
		}
		if got != tc.want || len(tc.notes) > 1 {
			t.Errorf("%s: Event %q (%d notes), want %q", tc.name, got, len(tc.notes), tc.want)
		}
	}
}

func TestPoolNotes(t *testing.T) {
	cond := func(typ string, ok bool) metav1.Condition {
		c := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: "R", Message: typ + " message"}
		if ok {
			c.Status = metav1.ConditionTrue
		}
		return c
	}
	old := &v1alpha1.LicensePool{Status: v1alpha1.LicensePoolStatus{Conditions: []metav1.Condition{
		cond(v1alpha1.ConditionSeatsExhausted, true), cond(v1alpha1.ConditionSessionsExhausted, false)}}}
	next := &v1alpha1.LicensePool{Status: v1alpha1.LicensePoolStatus{Conditions: []metav1.Condition{
		cond(v1alpha1.ConditionSeatsExhausted, true), cond(v1alpha1.ConditionSessionsExhausted, true), cond(v1alpha1.ConditionReady, true)}}}
	var got []string
	for _, n := range poolNotes(old, next) {
		got = append(got, n.typ+"/"+n.reason+": "+n.text)
	}
	// Only a condition that turned True is news; Ready is not reported.
	if diff := cmp.Diff([]string{"Warning/SessionsExhausted: SessionsExhausted message"}, got); diff != "" {
		t.Errorf("pool notes (-want +got):\n%s", diff)
	}
}

func TestPolicyNotes(t *testing.T) {
	ends := t0.Add(30 * time.Second)
	usage := allocator.Usage{SessionLimit: ptr.To[int32](10), Overdraft: 2}
	// written is the session as a pass writes it for the result, and its notes.
	written := func(name string, count int32, r allocator.SessionResult) []note {
		s := testSession(name, "p")
		s.Spec.Count = count
		s.Status = sessionStatus(s, r, usage)
		return sessionNote(s, r)
	}
	render := func(notes []note) []string {
		var out []string
		for _, n := range notes {
			out = append(out, fmt.Sprintf("%s/%s/%s [%s]: %s", n.typ, n.reason, n.action, n.transition, n.text))
		}
		return out
	}
	tests := []struct {
		name  string
		notes []note
		want  []string
	}{
		{"a grant beyond the limit: the grant, and a warning that counts no transition of its own",
			written("a", 1, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "granted", Overdraft: true, Transition: allocator.SessionGranted}),
			[]string{"Normal/Granted/Grant [Granted]: granted",
				"Warning/OverdraftGranted/Grant []: holds a licence beyond pool p's limit of 10 (overdraft: 2 allowed)"}},
		{"a grant within the limit: the grant alone",
			written("a", 1, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "granted", Transition: allocator.SessionGranted}),
			[]string{"Normal/Granted/Grant [Granted]: granted"}},
		{"a notice of preemption names the session that takes the licence, and when",
			written("a", 1, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, PreemptedBy: "urgent",
				Message: "ends at …", Transition: allocator.SessionNoticed}),
			[]string{"Warning/Preempting/Preempt [EndingSoon]: session urgent, of higher priority, takes this session's licence at 2026-11-23T12:00:30Z"}},
		{"of several licences",
			written("a", 4, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, PreemptedBy: "urgent",
				Message: "ends at …", Transition: allocator.SessionNoticed}),
			[]string{"Warning/Preempting/Preempt [EndingSoon]: session urgent, of higher priority, takes this session's licences at 2026-11-23T12:00:30Z"}},
		{"a capacity notice keeps its Event and the result's message",
			written("a", 1, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, Message: "the limit dropped", Transition: allocator.SessionNoticed}),
			[]string{"Warning/EndingSoon/Notice [EndingSoon]: the limit dropped"}},
		{"an end in preemption, like other ends",
			written("a", 1, allocator.SessionResult{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndPreempted, EndedAt: &ends, Message: "urgent took it", Transition: allocator.SessionEnded}),
			[]string{"Warning/Preempted/End [Ended]: urgent took it"}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, render(tc.notes)); diff != "" {
			t.Errorf("%s: notes (-want +got):\n%s", tc.name, diff)
		}
	}

	// Grants beyond the limit in one batch: one Event about the pool, as for grants.
	var log eventLog
	r := &PoolReconciler{Recorder: &log}
	var notes []note
	for _, n := range []string{"b", "a"} {
		notes = append(notes, written(n, 1, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "granted", Overdraft: true, Transition: allocator.SessionGranted})...)
	}
	r.recordEvents(nil, notes)
	want := []string{
		"*v1alpha1.LicensePool p: Normal Granted 2 sessions of pool p: a, b",
		"*v1alpha1.LicensePool p: Warning OverdraftGranted 2 sessions of pool p: a, b",
	}
	if diff := cmp.Diff(want, log.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestPoolPolicyNotes(t *testing.T) {
	cond := func(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: typ + " " + reason}
	}
	pool := func(conds ...metav1.Condition) *v1alpha1.LicensePool {
		return &v1alpha1.LicensePool{Status: v1alpha1.LicensePoolStatus{Conditions: conds}}
	}
	inOverdraft := cond(v1alpha1.ConditionOverdraft, metav1.ConditionTrue, v1alpha1.ReasonOverdraft)
	within := cond(v1alpha1.ConditionOverdraft, metav1.ConditionFalse, v1alpha1.ReasonWithinLimit)
	fit := cond(v1alpha1.ConditionReservationsFit, metav1.ConditionTrue, v1alpha1.ReasonReservationsFit)
	overReserved := cond(v1alpha1.ConditionReservationsFit, metav1.ConditionFalse, v1alpha1.ReasonReservationsExceedLimit)
	tests := []struct {
		name      string
		old, next *v1alpha1.LicensePool
		want      []string
	}{
		{"overdraft in use: a warning", pool(within), pool(inOverdraft), []string{"Warning/Overdraft: Overdraft Overdraft"}},
		{"overdraft still in use: nothing new", pool(inOverdraft), pool(inOverdraft), nil},
		{"overdraft over: nothing", pool(inOverdraft), pool(within), nil},
		{"reservations no longer fit: a warning", pool(fit), pool(overReserved),
			[]string{"Warning/ReservationsExceedLimit: ReservationsFit ReservationsExceedLimit"}},
		{"reservations that did not fit from the start: a warning", pool(), pool(overReserved),
			[]string{"Warning/ReservationsExceedLimit: ReservationsFit ReservationsExceedLimit"}},
		{"reservations that still do not fit: nothing new", pool(overReserved), pool(overReserved), nil},
		{"reservations that fit: nothing", pool(), pool(fit), nil},
	}
	for _, tc := range tests {
		var got []string
		for _, n := range poolNotes(tc.old, tc.next) {
			got = append(got, n.typ+"/"+n.reason+": "+n.text)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: pool notes (-want +got):\n%s", tc.name, diff)
		}
	}
}
