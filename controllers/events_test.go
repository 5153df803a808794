package controllers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
