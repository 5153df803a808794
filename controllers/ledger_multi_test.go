package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// A session of several licences is recorded once per licence, so the parts' quotas, counted
// in entries, bound the licences granted; its entries may lie in several parts, and it is
// granted only after every part that records one is written.
func TestApplyMultiLicenceLedgerParts(t *testing.T) {
	var log writeLog
	counts := map[string]int32{"a": 3, "b": 1, "c": 2}
	objs := []client.Object{testPool("p", 5)}
	for _, n := range []string{"a", "b", "c"} {
		s := testSession(n, "p")
		s.Spec.Count = counts[n]
		objs = append(objs, s)
	}
	c := fakeAPI(t, log.funcs(), objs...)
	r, _ := testReconciler(c, c)
	r.partSize = 2
	clock := clocktesting.NewFakeClock(t0)
	r.Clock = clock
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	writes := log.take()
	lastLedger, firstGrant := ledgerThenGrants(writes)
	if lastLedger > firstGrant {
		t.Fatalf("writes %q: want the ledger written before the grants", writes)
	}
	got := sessionsIn(t, c)
	if got["a"].Phase != v1alpha1.SessionActive || got["b"].Phase != v1alpha1.SessionActive || got["c"].Phase == v1alpha1.SessionActive {
		t.Fatalf("phases %+v: want a (3) and b (1) Active, c (2) not, with 1 licence free", got)
	}
	if h := partHolders(t, c); h != "a,a/2|a/3,b|" {
		t.Errorf("parts hold %q, want a,a/2|a/3,b| (part 2 empty)", h)
	}

	// a ends: its three licences free together, and c takes two of them.
	s := &v1alpha1.SharedSession{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "a"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.Terminate = true
	if err := c.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	clock.Step(echoWait)
	for range 2 { // the end, then the grant it frees
		if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
			t.Fatal(err)
		}
		clock.Step(echoWait)
	}
	got = sessionsIn(t, c)
	if got["a"].Phase != v1alpha1.SessionEnded || got["c"].Phase != v1alpha1.SessionActive {
		t.Fatalf("phases %+v: want a Ended and c Active", got)
	}
	h := partHolders(t, c)
	entries := strings.FieldsFunc(h, func(r rune) bool { return r == ',' || r == '|' })
	slices.Sort(entries)
	if !slices.Equal(entries, []string{"b", "c", "c/2"}) {
		t.Errorf("parts hold %q, want b, c and c/2", h)
	}
}

func TestLedgerEntriesOfSessions(t *testing.T) {
	s := testSession("a", "p")
	s.Spec.Count = 3
	u := uidsOf(nil, []*v1alpha1.SharedSession{s, testSession("b", "p")})
	for _, e := range []string{"a", "a/2", "a/3", "b"} {
		if u.sessions[e] != types.UID("uid-"+v1alpha1.LedgerHolder(e)) {
			t.Errorf("entry %s maps to %q", e, u.sessions[e])
		}
	}
	if _, ok := u.sessions["b/2"]; ok {
		t.Error("a session of one licence has one entry")
	}
	// An entry the cache cannot vouch for is checked by its session's name.
	g := &v1alpha1.Grants{Holders: []string{"x/2"}}
	if got := unsure(g, u.sessions, func(types.UID) bool { return false }); len(got) != 1 || got[0].name != "x" {
		t.Errorf("unsure = %+v, want the session x", got)
	}
}
