package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// promised is a waiting session that shows the promise token.
func promised(name, token string, pos int32) *v1alpha1.SharedSession {
	s := waitingSession(name, "p")
	s.Status.QueuePosition, s.Status.Promise = pos, token
	return s
}

// withPromises lists the sessions as the ledger's promises, in order, with their tokens.
func withPromises(p *v1alpha1.LicensePool, sessions ...*v1alpha1.SharedSession) *v1alpha1.LicensePool {
	for _, s := range sessions {
		p.Status.Ledger.Promises = append(p.Status.Ledger.Promises, v1alpha1.Promise{Name: s.Name, UID: s.UID, Token: s.Status.Promise})
	}
	return p
}

func deletedUIDs(uids ...types.UID) func(types.UID) bool {
	return func(u types.UID) bool { return slices.Contains(uids, u) }
}

// TestReadPromises: the k-th promise is due once k of the ledger's entries have freed their
// licences for good (the session ended, or the watch reported it deleted), to the session it
// was made to (same UID, still Waiting, still showing its token), within the limit.
func TestReadPromises(t *testing.T) {
	ended := func(name string) *v1alpha1.SharedSession {
		s := activeSession(name, "p")
		s.Status.Phase, s.Status.EndReason, s.Status.EndedAt = v1alpha1.SessionEnded, v1alpha1.EndTerminated, micro(-time.Second)
		return s
	}
	w1, w2 := promised("w1", "t1", 1), promised("w2", "t2", 2)
	stale := promised("w1", "other", 1)
	recreated := promised("w1", "t1", 1)
	recreated.UID = "uid-w1-again"
	grantedW1 := activeSession("w1", "p")
	for _, tc := range []struct {
		name     string
		limit    int32
		sessions []*v1alpha1.SharedSession
		deleted  []types.UID
		wantDue  []string
		wantHeld []string
		freed    int
	}{
		{name: "a holder deleted: the first promise is due", limit: 2, sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), w1, w2},
			deleted: []types.UID{"uid-a"}, wantDue: []string{"w1"}, wantHeld: []string{"w1"}, freed: 1},
		{name: "a holder ended: the same", limit: 2, sessions: []*v1alpha1.SharedSession{ended("a"), activeSession("b", "p"), w1, w2},
			wantDue: []string{"w1"}, wantHeld: []string{"w1"}, freed: 1},
		{name: "a holder the cache does not show and the watch did not report gone frees nothing", limit: 2,
			sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), w1, w2}},
		{name: "both freed: both due", limit: 2, sessions: []*v1alpha1.SharedSession{w1, w2}, deleted: []types.UID{"uid-a", "uid-b"},
			wantDue: []string{"w1", "w2"}, wantHeld: []string{"w1", "w2"}, freed: 2},
		{name: "a session showing another token holds no promise, and the second waits for a second licence", limit: 2,
			sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), stale, w2}, deleted: []types.UID{"uid-a"}, freed: 1},
		{name: "a session created again under the promised name is not the one promised", limit: 2,
			sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), recreated, w2}, deleted: []types.UID{"uid-a"}, freed: 1},
		{name: "the limit dropped since: nothing is due", limit: 1, sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), w1, w2},
			deleted: []types.UID{"uid-a"}, freed: 1},
		{name: "a promised session granted already holds, and counts", limit: 2,
			sessions: []*v1alpha1.SharedSession{activeSession("b", "p"), grantedW1, w2}, deleted: []types.UID{"uid-a"},
			wantHeld: []string{"w1"}, freed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := withPromises(withSessionLedger(testPool("p", tc.limit), "a", "b"), w1, w2)
			st := readPromises(pool, tc.sessions, deletedUIDs(tc.deleted...), ptr.To(tc.limit))
			var due []string
			for _, s := range tc.sessions {
				if st.due[s.UID] {
					due = append(due, s.Name)
				}
			}
			if diff := cmp.Diff(tc.wantDue, due); diff != "" {
				t.Errorf("due (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHeld, st.held); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
			if st.freed != tc.freed {
				t.Errorf("freed %d, want %d", st.freed, tc.freed)
			}
		})
	}
}

// planOf runs what a pass runs up to its plan, on a snapshot of pool and sessions.
func planOf(pool *v1alpha1.LicensePool, sessions []*v1alpha1.SharedSession, deleted ...types.UID) (*snapshot, allocator.Result, writePlan) {
	snap := &snapshot{key: types.NamespacedName{Namespace: testNS, Name: pool.Name}, pool: pool, sessions: sessions}
	snap.uids = uidsOf(nil, sessions)
	snap.readPromises(deletedUIDs(deleted...))
	res := snap.decide(t0)
	return snap, res, planWrites(snap, res, t0, noWaits)
}

func writeNames(ws []statusWrite) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.orig.GetName())
	}
	return out
}

func promiseNames(ps []v1alpha1.Promise) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// TestPlanPromises: which sessions are promised, in what order, and which promises go, with the
// write that must come before the ledger's.
func TestPlanPromises(t *testing.T) {
	queued := func(name string, age time.Duration) *v1alpha1.SharedSession {
		s := testSession(name, "p")
		s.CreationTimestamp = *mt(-age)
		s.Status = v1alpha1.SharedSessionStatus{}
		return s
	}
	announced := func(name string, age time.Duration, token string) *v1alpha1.SharedSession {
		s := queued(name, age)
		s.Status = v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionWaiting, QueuePosition: 1, Promise: token}
		return s
	}

	t.Run("behind a long queue the first sessions are promised at once, by the lane, and named by a later ledger", func(t *testing.T) {
		sessions := []*v1alpha1.SharedSession{activeSession("a", "p"), queued("q1", 3*time.Second), queued("q2", 2*time.Second)}
		_, _, p := planOf(withSessionLedger(testPool("p", 1), "a"), sessions)
		if got := writeNames(p.marks); !slices.Equal(got, []string{"q1", "q2"}) {
			t.Errorf("marks %v, want q1 and q2", got)
		}
		if len(p.promises.list) != 0 || len(p.first) != 0 {
			t.Errorf("list %v, first %v: want none before the sessions show their promise", p.promises.list, writeNames(p.first))
		}
		if !p.namesSoon {
			t.Error("a ledger that names no promise leaves the new ones to a pass promiseLedgerLag later; want it named once they land")
		}
		for _, w := range p.marks {
			if s := w.next.(*v1alpha1.SharedSession); s.Status.Promise == "" || s.Status.Phase != v1alpha1.SessionWaiting {
				t.Errorf("%s is written %+v: want Waiting with a promise", s.Name, s.Status)
			}
		}
	})

	t.Run("a pool of five promises the next two rounds of releases: ten sessions", func(t *testing.T) {
		var holders []string
		var sessions []*v1alpha1.SharedSession
		for i := range 5 {
			holders = append(holders, string(rune('a'+i)))
			sessions = append(sessions, activeSession(holders[i], "p"))
		}
		var want []string
		for i := range 30 {
			name := fmt.Sprintf("q%02d", i)
			sessions = append(sessions, queued(name, time.Duration(40-i)*time.Second))
			if i < 10 {
				want = append(want, name)
			}
		}
		_, _, p := planOf(withSessionLedger(testPool("p", 5), holders...), sessions)
		if got := writeNames(p.marks); !slices.Equal(got, want) {
			t.Errorf("marks %v, want the first ten, %v", got, want)
		}
	})

	t.Run("behind a short queue a wait not yet announced gets no promise", func(t *testing.T) {
		sessions := []*v1alpha1.SharedSession{activeSession("a", "p"), activeSession("b", "p"), queued("q1", 100*time.Millisecond)}
		_, _, p := planOf(withSessionLedger(testPool("p", 2), "a", "b"), sessions)
		if len(p.marks)+len(p.first)+len(p.promises.list) != 0 {
			t.Errorf("marks %v, first %v, list %v: want nothing", writeNames(p.marks), writeNames(p.first), p.promises.list)
		}
	})

	t.Run("sessions that show a promise are named in the queue's order, up to the first that does not", func(t *testing.T) {
		sessions := []*v1alpha1.SharedSession{activeSession("a", "p"),
			announced("q1", 4*time.Second, "t1"), announced("q2", 3*time.Second, ""), announced("q3", 2*time.Second, "t3")}
		_, _, p := planOf(withSessionLedger(testPool("p", 1), "a"), sessions)
		if got := promiseNames(p.promises.list); !slices.Equal(got, []string{"q1"}) {
			t.Errorf("list %v, want q1 alone: q2's promise is on its way", got)
		}
		if got := writeNames(p.marks); !slices.Equal(got, []string{"q2"}) {
			t.Errorf("marks %v, want q2", got)
		}
		if p.namesSoon {
			t.Error("q1's promise covers the pool's one licence: q2's may wait to be named")
		}
	})

	t.Run("a licence freed goes to the first promise at once; the second moves up, with its token", func(t *testing.T) {
		w1, w2 := announced("w1", 4*time.Second, "t1"), announced("w2", 3*time.Second, "t2")
		pool := withPromises(withSessionLedger(testPool("p", 2), "a", "b"), w1, w2)
		snap, _, p := planOf(pool, []*v1alpha1.SharedSession{activeSession("b", "p"), w1, w2}, "uid-a")
		if got := writeNames(p.fast); !slices.Equal(got, []string{"w1"}) {
			t.Fatalf("fast %v, want w1 (checked %v)", got, writeNames(p.checked))
		}
		if s := p.fast[0].next.(*v1alpha1.SharedSession); s.Status.Phase != v1alpha1.SessionActive || s.Status.Promise != "" {
			t.Errorf("w1 is written %+v: want Active, its promise kept", s.Status)
		}
		if len(p.first) != 0 || len(p.checked) != 0 || len(p.revoke) != 0 {
			t.Errorf("first %v, checked %v, revoke %v: want nothing in front of the ledger", writeNames(p.first), writeNames(p.checked), writeNames(p.revoke))
		}
		if p.pool == nil {
			t.Fatal("the ledger is not written (nothing says when it last was, so it may not wait)")
		}
		l := p.pool.next.(*v1alpha1.LicensePool).Status.Ledger
		if !slices.Equal(l.Sessions.Holders, []string{"b", "w1"}) || !cmp.Equal(l.Promises, []v1alpha1.Promise{pool.Status.Ledger.Promises[1]}) {
			t.Errorf("ledger %v with promises %v: want holders b, w1 and w2's promise as it was", l.Sessions.Holders, l.Promises)
		}
		_ = snap
	})

	t.Run("a promise that cannot stay where it stands is taken back before the ledger drops it", func(t *testing.T) {
		// w1 is promised the first licence freed, but an urgent session queued in front of it.
		w1 := announced("w1", 4*time.Second, "t1")
		urgent := announced("urgent", time.Second, "")
		urgent.Spec.Priority = 10
		pool := withPromises(withSessionLedger(testPool("p", 1), "a"), w1)
		_, _, p := planOf(pool, []*v1alpha1.SharedSession{activeSession("a", "p"), w1, urgent})
		if got := writeNames(p.first); !slices.Equal(got, []string{"w1"}) {
			t.Fatalf("first %v, want w1", got)
		}
		if s := p.first[0].next.(*v1alpha1.SharedSession); s.Status.Promise == "t1" {
			t.Error("w1 keeps promise t1, want it taken back (for a new one, behind urgent's)")
		}
		if got := promiseNames(p.pool.next.(*v1alpha1.LicensePool).Status.Ledger.Promises); len(got) != 0 {
			t.Errorf("the ledger still promises %v", got)
		}
	})

	t.Run("a waiting session is given a promise with a write it gets anyway, never with one of its own", func(t *testing.T) {
		// Nine wait behind one holder: the first eight are in the window, the ninth is not.
		sessions := []*v1alpha1.SharedSession{activeSession("a", "p")}
		for i := range 9 {
			sessions = append(sessions, announced(fmt.Sprintf("w%d", i), time.Duration(20-i)*time.Second, fmt.Sprintf("t%d", i)))
		}
		moved := announced("late", time.Second, "") // shown at position 1: its position changes
		unchanged := announced("later", time.Second/2, "")
		sessions = append(sessions, moved, unchanged)
		// later shows already what a pass would write but the promise: nothing of it changes.
		_, _, p := planOf(withSessionLedger(testPool("p", 1), "a"), sessions)
		for _, ws := range [][]statusWrite{p.other, p.head, p.tail} {
			for _, w := range ws {
				if w.orig.GetName() == "later" {
					unchanged.Status = *w.next.(*v1alpha1.SharedSession).Status.DeepCopy()
					unchanged.Status.Promise = ""
				}
			}
		}
		_, _, p = planOf(withSessionLedger(testPool("p", 1), "a"), sessions)
		var got *v1alpha1.SharedSession
		for _, ws := range [][]statusWrite{p.other, p.head, p.tail, p.marks, p.first} {
			for _, w := range ws {
				switch w.orig.GetName() {
				case "late":
					got = w.next.(*v1alpha1.SharedSession)
				case "later":
					t.Errorf("later is written %+v, want no write: a promise costs none of its own", w.next.(*v1alpha1.SharedSession).Status)
				}
			}
		}
		if got == nil || got.Status.Promise == "" {
			t.Fatalf("late is written %+v, want its position with a promise", got)
		}
		if got := promiseNames(p.promises.list); len(got) != promiseWindow(1) {
			t.Errorf("list %v, want the first %d, who show their promises", got, promiseWindow(1))
		}
	})

	t.Run("a pool that takes groups makes no promises, and takes back those it made", func(t *testing.T) {
		w1 := announced("w1", 4*time.Second, "t1")
		pool := withPromises(withSessionLedger(testPool("p", 1), "a"), w1)
		pool.Spec.Groups = []v1alpha1.HolderGroup{{Name: "g", Members: []string{"*"}}}
		_, _, p := planOf(pool, []*v1alpha1.SharedSession{activeSession("a", "p"), w1, announced("w2", 3*time.Second, "")})
		if got := writeNames(p.first); !slices.Equal(got, []string{"w1"}) {
			t.Errorf("first %v, want w1", got)
		}
		if len(p.marks) != 0 {
			t.Errorf("marks %v, want none", writeNames(p.marks))
		}
	})

	t.Run("a promised session that ends is written Ended before the ledger drops it", func(t *testing.T) {
		w1 := announced("w1", 4*time.Second, "t1")
		w1.Spec.Terminate = true
		pool := withPromises(withSessionLedger(testPool("p", 1), "a"), w1)
		_, _, p := planOf(pool, []*v1alpha1.SharedSession{activeSession("a", "p"), w1})
		if got := writeNames(p.first); !slices.Equal(got, []string{"w1"}) {
			t.Fatalf("first %v, want w1", got)
		}
		if s := p.first[0].next.(*v1alpha1.SharedSession); s.Status.Phase != v1alpha1.SessionEnded || s.Status.Promise != "" {
			t.Errorf("w1 is written %+v: want Ended, with no promise", s.Status)
		}
	})
}

// TestDeferLedger: a pass that only grants on promises leaves the ledger to a pass at most
// promiseLedgerLag after the oldest grant it does not record, while enough promises are left
// for the next releases.
func TestDeferLedger(t *testing.T) {
	// grantedAgo > 0: v, promised first, was granted on its promise that long ago, and the
	// ledger does not record it yet.
	ledgerAge := 50 * time.Millisecond
	setup := func(grantedAgo time.Duration, promisedCount int) (*snapshot, writePlan) {
		pool := withSessionLedger(testPool("p", 4), "a", "b", "c", "d")
		pool.Status.ObservedGeneration = 1
		sessions := []*v1alpha1.SharedSession{activeSession("c", "p"), activeSession("d", "p")}
		deleted := []types.UID{"uid-a"} // its licence goes to the first promise
		var ws []*v1alpha1.SharedSession
		if grantedAgo == 0 {
			sessions = append(sessions, activeSession("b", "p"))
		} else {
			deleted = append(deleted, "uid-b") // a's licence went to v, b's goes to w1
			v := promised("v", "t-v", 1)
			ws = append(ws, v.DeepCopy())
			v.Status = v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionActive, GrantedAt: micro(-grantedAgo)}
			sessions = append(sessions, v)
		}
		for i, name := range []string{"w1", "w2", "w3"}[:promisedCount] {
			w := promised(name, "t-"+name, int32(i+1))
			ws = append(ws, w)
			sessions = append(sessions, w)
		}
		withPromises(pool, ws...)
		snap := &snapshot{key: types.NamespacedName{Namespace: testNS, Name: "p"}, pool: pool, sessions: sessions, ledgerAt: t0.Add(-ledgerAge)}
		snap.uids = uidsOf(nil, sessions)
		snap.readPromises(deletedUIDs(deleted...))
		return snap, planWrites(snap, snap.decide(t0), t0, noWaits)
	}
	_, p := setup(0, 3)
	if len(p.fast) != 1 || p.pool != nil {
		t.Fatalf("fast %v, pool written %v: want w1 granted and the ledger left for later", writeNames(p.fast), p.pool != nil)
	}
	if want := t0.Add(promiseLedgerLag); !p.announceAt.Equal(want) {
		t.Errorf("the pass asks to be called at %v, want promiseLedgerLag after its own grant, %v", p.announceAt, want)
	}
	_, p = setup(promiseLedgerLag/2, 3)
	if p.pool != nil {
		t.Fatal("the ledger is written though its oldest unrecorded grant is younger than promiseLedgerLag")
	}
	if want := t0.Add(promiseLedgerLag / 2); !p.announceAt.Equal(want) {
		t.Errorf("the pass asks to be called at %v, want promiseLedgerLag after v's grant, %v", p.announceAt, want)
	}
	if _, p := setup(promiseLedgerLag+time.Millisecond, 3); p.pool == nil {
		t.Error("a grant on a promise older than promiseLedgerLag is left unrecorded")
	}
	// The lag runs from the grants, not from the last ledger write: a write long ago does not
	// cut short the lag of the pass's own grant; only past promiseLedgerMaxLag does it.
	ledgerAge = promiseLedgerLag + time.Millisecond
	if _, p := setup(0, 3); p.pool != nil {
		t.Error("a ledger written longer than promiseLedgerLag ago is written with the pass's own grant on a promise")
	}
	ledgerAge = promiseLedgerMaxLag
	if _, p := setup(0, 3); p.pool == nil {
		t.Error("a ledger written promiseLedgerMaxLag ago is left unwritten")
	}
	ledgerAge = 50 * time.Millisecond
	if _, p := setup(0, 2); p.pool == nil {
		t.Error("the ledger is left unwritten with one promise left that can come due")
	}
}

// TestPromisedHandOff: a pass over a pool whose holder has gone grants the promised session
// and records it in the ledger; the Event of the grant goes once the ledger records it.
func TestPromisedHandOff(t *testing.T) {
	w1, w2 := promised("w1", "t1", 1), promised("w2", "t2", 2)
	pool := withPromises(withSessionLedger(testPool("p", 1), "a"), w1, w2)
	c := fakeAPI(t, interceptor.Funcs{}, pool, w1, w2)
	r, events := testReconciler(c, c)
	r.memory.objectDeleted(activeSession("a", "p"), t0)
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	if s := sessionIn(t, c, "w1"); s.Status.Phase != v1alpha1.SessionActive || s.Status.Promise != "" {
		t.Errorf("w1 is %+v, want Active with no promise", s.Status)
	}
	l := poolIn(t, c, "p").Status.Ledger
	if !slices.Equal(l.Sessions.Holders, []string{"w1"}) {
		t.Errorf("the ledger records %v, want w1", l.Sessions.Holders)
	}
	if got := promiseNames(l.Promises); !slices.Equal(got, []string{"w2"}) {
		t.Errorf("the ledger promises %v, want w2", got)
	}
	if !slices.ContainsFunc(events.events, func(e string) bool {
		return e == "*v1alpha1.SharedSession w1: Normal Granted w1@acme.example holds a shared licence of pool p"
	}) {
		t.Errorf("events %v: want w1's grant", events.events)
	}
	if n := len(r.memory.heldNotes); n != 0 {
		t.Errorf("%d pools still hold Events", n)
	}
}

// TestPlanPromised: the promise lane plans exactly the grants on a due promise that a pass on
// the same snapshot would write at once, status for status, and nothing else.
func TestPlanPromised(t *testing.T) {
	queue := func(n int) []*v1alpha1.SharedSession {
		var out []*v1alpha1.SharedSession
		for i := range n {
			s := promised(fmt.Sprintf("w%d", i+1), fmt.Sprintf("t%d", i+1), int32(i+1))
			s.CreationTimestamp = *mt(-time.Duration(n-i) * time.Second)
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		limit   int32
		active  []string
		deleted []types.UID
		want    []string
	}{
		{name: "nothing freed", limit: 2, active: []string{"a", "b"}, want: nil},
		{name: "one freed", limit: 2, active: []string{"b"}, deleted: []types.UID{"uid-a"}, want: []string{"w1"}},
		{name: "two freed", limit: 2, deleted: []types.UID{"uid-a", "uid-b"}, want: []string{"w1", "w2"}},
		{name: "the limit dropped since", limit: 1, deleted: []types.UID{"uid-a", "uid-b"}, want: []string{"w1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waiting := queue(4)
			pool := withPromises(withSessionLedger(testPool("p", tc.limit), "a", "b"), waiting...)
			sessions := slices.Clone(waiting)
			for _, a := range tc.active {
				sessions = append(sessions, activeSession(a, "p"))
			}
			snap, res, pass := planOf(pool, sessions, tc.deleted...)
			lane, err := planPromised(snap, res, t0, noWaits)
			if err != nil {
				t.Fatal(err)
			}
			if got := writeNames(lane); !slices.Equal(got, tc.want) {
				t.Errorf("the lane plans %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(pass.fast, lane, cmp.AllowUnexported(statusWrite{}, note{}), cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")); diff != "" {
				t.Errorf("the lane's grants differ from the pass's (-pass +lane):\n%s", diff)
			}
		})
	}
}

// TestPromiseWindow: a pool names promises for as many releases as its limit (up to eight) and
// promises twice that many sessions (at least eight, at most the sixteen a ledger lists).
func TestPromiseWindow(t *testing.T) {
	for _, tc := range []struct {
		limit         int32
		cover, window int
	}{
		{limit: 1, cover: 1, window: 8},
		{limit: 4, cover: 4, window: 8},
		{limit: 5, cover: 5, window: 10},
		{limit: 8, cover: 8, window: 16},
		{limit: 500, cover: 8, window: 16},
	} {
		if got := promiseCover(&tc.limit); got != tc.cover {
			t.Errorf("limit %d: cover %d, want %d", tc.limit, got, tc.cover)
		}
		if got := promiseWindow(tc.limit); got != tc.window {
			t.Errorf("limit %d: window %d, want %d", tc.limit, got, tc.window)
		}
	}
	if promiseCover(nil) != 0 {
		t.Error("a pool with no limit covers releases")
	}
}

// TestAwaitPromises: a pass waits for a run of the pool's promise lane to end, and no longer
// than it may; with no run under way, or for another pool, it does not wait.
func TestAwaitPromises(t *testing.T) {
	pool, other := poolKey("p").NamespacedName, poolKey("q").NamespacedName
	run := &promiseRun{done: make(chan struct{})}
	l := &promiseLane{running: map[types.NamespacedName]*promiseRun{pool: run}}
	ctx := context.Background()
	waited := func(key types.NamespacedName, max time.Duration) time.Duration {
		start := time.Now()
		l.awaitPromises(ctx, key, max)
		return time.Since(start)
	}
	if d := waited(other, time.Hour); d > time.Second {
		t.Errorf("a pass of a pool with no run waited %v", d)
	}
	if d := waited(pool, 20*time.Millisecond); d < 20*time.Millisecond || d > time.Second {
		t.Errorf("a pass behind a run that does not end waited %v, want its bound, 20ms", d)
	}
	done := make(chan time.Duration)
	go func() { done <- waited(pool, time.Hour) }()
	time.Sleep(10 * time.Millisecond)
	l.sent(pool, run, 0)
	select {
	case d := <-done:
		if d < 10*time.Millisecond {
			t.Errorf("the pass waited %v, want until the run ended", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the pass still waits after the run ended")
	}
}

// TestPromiseRunEnds: a run of the promise lane ends when its decision is over and the last of
// its grants is answered, not before.
func TestPromiseRunEnds(t *testing.T) {
	pool := poolKey("p").NamespacedName
	run := &promiseRun{done: make(chan struct{}), deciding: true}
	l := &promiseLane{running: map[types.NamespacedName]*promiseRun{pool: run}}
	ended := func() bool {
		select {
		case <-run.done:
			return true
		default:
			return false
		}
	}
	l.sent(pool, run, 1)
	l.sent(pool, run, 1)
	l.mu.Lock()
	run.deciding = false
	l.endLocked(pool, run)
	l.mu.Unlock()
	if ended() {
		t.Fatal("the run ended with two grants in flight")
	}
	l.sent(pool, run, -1)
	if ended() {
		t.Fatal("the run ended with a grant in flight")
	}
	l.sent(pool, run, -1)
	if !ended() || l.running[pool] != nil {
		t.Errorf("the run did not end with its last grant (ended %v, still running %v)", ended(), l.running[pool] != nil)
	}
}

// TestPromiseLaneGrantsSideBySide: a licence freed while the grant of the one freed before it
// is still in flight goes to its promised session at once, not after that grant's answer; the
// first grant is not written twice, and the run ends with its last answer.
func TestPromiseLaneGrantsSideBySide(t *testing.T) {
	w1, w2 := promised("w1", "t1", 1), promised("w2", "t2", 2)
	a, b := activeSession("a", "p"), activeSession("b", "p")
	pool := withPromises(withSessionLedger(testPool("p", 2), "a", "b"), w1, w2)
	held, hold := make(chan struct{}), make(chan struct{})
	var heldOnce, letGo sync.Once
	release := func() { letGo.Do(func() { close(hold) }) }
	t.Cleanup(release)
	var mu sync.Mutex
	patched := map[string]int{}
	c := fakeAPI(t, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			mu.Lock()
			patched[obj.GetName()]++
			mu.Unlock()
			if obj.GetName() == "w1" {
				heldOnce.Do(func() { close(held) })
				<-hold
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}, pool, w1, w2, a, b)
	r, _ := testReconciler(c, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.promised.Start(ctx) }()
	key := poolKey("p").NamespacedName
	gone := func(s *v1alpha1.SharedSession) {
		t.Helper()
		if err := c.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
		r.memory.objectDeleted(s, t0)
		r.wakePromises(key)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the lane to start", func() bool { r.promised.mu.Lock(); defer r.promised.mu.Unlock(); return r.promised.ctx != nil })
	gone(a)
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("w1's grant was not sent")
	}
	gone(b)
	waitFor("w2's grant", func() bool { return sessionIn(t, c, "w2").Status.Phase == v1alpha1.SessionActive })
	if s := sessionIn(t, c, "w1"); s.Status.Phase == v1alpha1.SessionActive {
		t.Fatal("w1 is Active before its grant was let through")
	}
	r.promised.mu.Lock()
	running := r.promised.running[key] != nil
	r.promised.mu.Unlock()
	if !running {
		t.Error("the run ended with w1's grant in flight")
	}
	release()
	r.promised.awaitPromises(ctx, key, 5*time.Second)
	if s := sessionIn(t, c, "w1"); s.Status.Phase != v1alpha1.SessionActive {
		t.Errorf("w1 is %s, want Active", s.Status.Phase)
	}
	r.promised.mu.Lock()
	defer r.promised.mu.Unlock()
	if r.promised.running[key] != nil {
		t.Error("the run is still under way after its last answer")
	}
	mu.Lock()
	defer mu.Unlock()
	if patched["w1"] != 1 || patched["w2"] != 1 {
		t.Errorf("grants written %v, want one each to w1 and w2", patched)
	}
}

// TestPromisedGrantsThatLandAreReported: when one grant on a promise of a batch fails, those
// that landed keep their Events (held for the ledger) and their count; the failure is returned.
func TestPromisedGrantsThatLandAreReported(t *testing.T) {
	w1, w2 := promised("w1", "t1", 1), promised("w2", "t2", 2)
	pool := withPromises(withSessionLedger(testPool("p", 2), "a", "b"), w1, w2)
	c := fakeAPI(t, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if obj.GetName() == "w2" {
				return apierrors.NewConflict(v1alpha1.GroupVersion.WithResource("sharedsessions").GroupResource(), "w2", errors.New("changed"))
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}, pool, w1, w2)
	r, _ := testReconciler(c, c)
	snap, _, plan := planOf(pool, []*v1alpha1.SharedSession{w1, w2}, "uid-a", "uid-b")
	if got := writeNames(plan.fast); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Fatalf("the pass grants %v on their promises, want w1 and w2", got)
	}
	if err := r.writePromised(context.Background(), snap, plan.fast); err == nil {
		t.Error("a batch with a failed grant reports no error")
	}
	if s := sessionIn(t, c, "w1"); s.Status.Phase != v1alpha1.SessionActive {
		t.Fatalf("w1 is %s, want Active", s.Status.Phase)
	}
	var about []string
	for _, n := range r.memory.heldNotes[snap.key] {
		about = append(about, n.obj.GetName()+" "+n.reason)
	}
	if !slices.Equal(about, []string{"w1 Granted"}) {
		t.Errorf("held Events %v, want w1's grant alone", about)
	}
	if r.memory.claimPromised(plan.fast[1:]) == nil {
		t.Error("the failed grant is still claimed")
	}
	if r.memory.claimPromised(plan.fast[:1]) != nil {
		t.Error("the landed grant can be claimed again from the state it replaced")
	}
}
