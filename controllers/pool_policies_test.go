package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// Passes over pools with policies, on a fake API server and the real allocator: what the
// allocator decides shows in the claimants' and the pool's status, in Events and in metrics.

// sessionIn reads a session from a fake API server.
func sessionIn(t *testing.T, c client.Reader, name string) *v1alpha1.SharedSession {
	t.Helper()
	s := &v1alpha1.SharedSession{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: name}, s); err != nil {
		t.Fatalf("get session %s: %v", name, err)
	}
	return s
}

// A pool of 2 with 1 licence of overdraft and a group reserving 1: three sessions hold, the
// newest beyond the limit, and a fourth waits; the ledger records all three, over two parts.
func TestReconcileOverdraftAndGroups(t *testing.T) {
	pool := testPool("p", 2)
	pool.Spec.OverdraftSessions = ptr.To[int32](1)
	pool.Spec.Groups = []v1alpha1.HolderGroup{{Name: "cfd-team", Members: []string{"a*@acme.example"}, ReservedSessions: ptr.To[int32](1)}}
	objs := []client.Object{pool}
	for _, n := range []string{"a1", "b", "c", "d"} {
		objs = append(objs, testSession(n, "p"))
	}
	var log writeLog
	c := fakeAPI(t, log.funcs(), objs...)
	r, events := testReconciler(c, c)
	r.partSize = 2 // the limit fits one part, the limit and its overdraft do not
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}

	phases := map[string]v1alpha1.SessionPhase{}
	for n, s := range sessionsIn(t, c) {
		phases[n] = s.Phase
	}
	if diff := cmp.Diff(map[string]v1alpha1.SessionPhase{"a1": "Active", "b": "Active", "c": "Active", "d": ""}, phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	for n, want := range map[string]string{"a1": "", "b": "", "c": "True/Overdraft"} {
		if got := condOf(sessionIn(t, c, n).Status.Conditions, v1alpha1.ConditionOverdraft); got != want {
			t.Errorf("session %s: Overdraft %q, want %q", n, got, want)
		}
	}
	if got := partHolders(t, c); got != "a1,b|c" {
		t.Errorf("the ledger records %q, want a1,b|c: room for the limit and its overdraft", got)
	}
	p := poolIn(t, c, "p")
	if s := p.Status.Sessions; s.Overdraft != 1 || s.Reserved != 1 || s.Active != 3 {
		t.Errorf("pool sessions: %+v, want 3 active, 1 in overdraft, 1 reserved", s)
	}
	wantGroups := []v1alpha1.GroupUsage{{Name: "cfd-team", SessionsActive: 1, ReservedSessions: 1}}
	if diff := cmp.Diff(wantGroups, p.Status.Groups); diff != "" {
		t.Errorf("pool groups (-want +got):\n%s", diff)
	}
	for typ, want := range map[string]string{v1alpha1.ConditionOverdraft: "True/Overdraft", v1alpha1.ConditionReservationsFit: "True/ReservationsFit"} {
		if got := condOf(p.Status.Conditions, typ); got != want {
			t.Errorf("pool %s = %q, want %q", typ, got, want)
		}
	}
	for _, want := range []string{
		"*v1alpha1.SharedSession c: Warning OverdraftGranted holds a licence beyond pool p's limit of 2 (overdraft: 1 allowed)",
		"*v1alpha1.LicensePool p: Warning Overdraft 1 shared licences in use beyond the limit of 2 (overdraft: 1 allowed): the sessions holding them carry the condition Overdraft, and are covered first as licences free up",
	} {
		if !slices.Contains(events.events, want) {
			t.Errorf("events %q: want %q", events.events, want)
		}
	}
	gauges := map[string]float64{
		"overdraft":     series(t, metrics.SessionsOverdraft, testNS, "p")[""],
		"allowed":       series(t, metrics.OverdraftAllowed, testNS, "p")[""],
		"reserved":      series(t, metrics.SessionsReserved, testNS, "p")[""],
		"group active":  series(t, metrics.GroupSessionsActive, testNS, "p")["cfd-team"],
		"group reserve": series(t, metrics.GroupSessionsReserved, testNS, "p")["cfd-team"],
	}
	if diff := cmp.Diff(map[string]float64{"overdraft": 1, "allowed": 1, "reserved": 1, "group active": 1, "group reserve": 1}, gauges); diff != "" {
		t.Errorf("gauges (-want +got):\n%s", diff)
	}

	// What the pass wrote is what it decided: a second pass has nothing to write.
	log.take()
	r.Clock = clocktesting.NewFakePassiveClock(t0.Add(echoWait)) // no watch brings our writes back
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	for _, w := range log.take() {
		if w != "status session d" { // its wait, announced once announceWaitAfter has passed
			t.Errorf("a second pass wrote %q", w)
		}
	}
}

// With preemption, a waiting session of higher priority gives the Active one of lower a notice
// that names it, then takes its licence when the grace period ends.
func TestReconcilePreemption(t *testing.T) {
	pool := withSessionLedger(testPool("p", 1), "low")
	pool.Spec.SessionPolicy.Preemption = &v1alpha1.Preemption{Policy: v1alpha1.PreemptLowerPriority, GracePeriod: &metav1.Duration{Duration: 30 * time.Second}}
	low := activeSession("low", "p")
	high := testSession("high", "p")
	high.Spec.Priority = 10
	c := fakeAPI(t, (&writeLog{}).funcs(), pool, low, high)
	r, events := testReconciler(c, c)
	clock := clocktesting.NewFakeClock(t0)
	r.Clock = clock
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	st := sessionIn(t, c, "low").Status
	ends := t0.Add(30 * time.Second)
	if st.Phase != v1alpha1.SessionActive || st.PreemptedBy != "high" || st.EndsAt == nil || !st.EndsAt.Time.Equal(ends) ||
		condOf(st.Conditions, v1alpha1.ConditionEndingSoon) != "True/Preempted" {
		t.Fatalf("low under notice: phase %s, preemptedBy %q, endsAt %v, EndingSoon %q; want Active, high, %v, True/Preempted",
			st.Phase, st.PreemptedBy, st.EndsAt, condOf(st.Conditions, v1alpha1.ConditionEndingSoon), ends)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon); c.Message != st.Message {
		t.Errorf("EndingSoon's message %q, want the session's, %q", c.Message, st.Message)
	}
	want := "*v1alpha1.SharedSession low: Warning Preempting session high, of higher priority, takes this session's licence at 2026-11-23T12:00:30Z"
	if !slices.Contains(events.events, want) {
		t.Errorf("events %q: want %q", events.events, want)
	}

	// The grace period over: low ends Preempted, and high holds.
	clock.SetTime(ends)
	for range 3 {
		if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
			t.Fatal(err)
		}
	}
	got := sessionsIn(t, c)
	if got["low"].Phase != v1alpha1.SessionEnded || got["low"].EndReason != v1alpha1.EndPreempted || got["high"].Phase != v1alpha1.SessionActive {
		t.Fatalf("after the grace period: low %+v, high %+v; want low Ended Preempted, high Active", got["low"], got["high"])
	}
	if st := sessionIn(t, c, "low").Status; st.PreemptedBy != "" || st.EndsAt != nil || condOf(st.Conditions, v1alpha1.ConditionEndingSoon) != "" {
		t.Errorf("low ended, still noticed: preemptedBy %q, endsAt %v, conditions %v", st.PreemptedBy, st.EndsAt, st.Conditions)
	}
	if !slices.ContainsFunc(events.events, func(e string) bool { return strings.HasPrefix(e, "*v1alpha1.SharedSession low: Warning Preempted ") }) {
		t.Errorf("events %q: want low's end, Preempted", events.events)
	}
	if n := series(t, metrics.Ends, testNS, "p")["Preempted"]; n < 1 {
		t.Errorf("ends counted under Preempted: %v, want at least 1", n)
	}
}
