package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// laneWrites are n slow writes of one class to sessions named prefix-000, prefix-001, ...
func laneWrites(prefix string, c laneClass, n int) []slowWrite {
	out := make([]slowWrite, n)
	for i := range out {
		s := waitingSession(fmt.Sprintf("%s-%03d", prefix, i), "p")
		out[i] = slowWrite{statusWrite: statusWrite{orig: s, next: s.DeepCopy()}, class: c}
	}
	return out
}

func laneNames(ws []statusWrite) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.orig.GetName()
	}
	return out
}

// TestSlowLanePace: the lane sends what a pass handed it at the pool's pace, announcements
// first, then a round of the head and one of the tail; nothing while a pass runs; a round of
// each at most once per its refresh period; and each claimant counts as being written until
// the answer comes.
func TestSlowLanePace(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	var writes []slowWrite
	writes = append(writes, laneWrites("tail", laneTail, 3)...)
	writes = append(writes, laneWrites("head", laneHead, 3)...)
	writes = append(writes, laneWrites("new", laneOther, slowBurst+2)...)
	for i := range writes {
		writes[i].order = i
	}
	m.passStarts(pool)
	l := m.passEnds(pool, nil, writes, true, false, t0)
	if l == nil {
		t.Fatal("a lane handed writes asks for no drainer")
	}
	if m.passEnds(pool, nil, writes, true, false, t0) != nil {
		t.Error("a second drainer was asked for while one runs")
	}

	batch, _, _, done := m.nextSlow(pool, l, t0)
	if done || len(batch) != slowBurst {
		t.Fatalf("first batch: %d writes (done %v), want slowBurst (%d)", len(batch), done, slowBurst)
	}
	for _, name := range laneNames(batch) {
		if !strings.HasPrefix(name, "new-") {
			t.Errorf("the first batch holds %s before the announcements are out", name)
		}
	}
	// In flight until answered: a snapshot marks them, and they are not sent twice.
	cached := batch[0].orig.(*v1alpha1.SharedSession).DeepCopy()
	cached.ResourceVersion = "7"
	snap := &snapshot{sessions: []*v1alpha1.SharedSession{cached}}
	if writing, _ := m.catchUp(t0, snap); !writing[batch[0].orig.GetUID()] {
		t.Error("a claimant the lane is writing is not marked in a snapshot")
	}
	if more, _, wait, _ := m.nextSlow(pool, l, t0); len(more) != 0 || wait <= 0 {
		t.Errorf("with the budget spent the lane sent %v (wait %v), want nothing and a wait", laneNames(more), wait)
	}
	if m.slowLanded(pool, l, batch, make([]error, len(batch))) {
		t.Error("writes that all landed asked for a pass")
	}
	if writing, _ := m.catchUp(t0, snap); writing != nil {
		t.Errorf("an answered write still marks its claimant: %v", writing)
	}

	// A pass holds the lane.
	m.passStarts(pool)
	later := t0.Add(headRefreshEvery / 5)
	if held, _, _, _ := m.nextSlow(pool, l, later); len(held) != 0 {
		t.Errorf("the lane sent %v while a pass ran", laneNames(held))
	}
	m.passEnds(pool, nil, nil, false, false, later)

	var rest []string
	for range 4 {
		b, _, _, _ := m.nextSlow(pool, l, later)
		rest = append(rest, laneNames(b)...)
		m.slowLanded(pool, l, b, make([]error, len(b)))
		later = later.Add(headRefreshEvery / 5)
	}
	want := "new-008 new-009 head-000 head-001 head-002 tail-000 tail-001 tail-002"
	if got := strings.Join(rest, " "); got != want {
		t.Errorf("the lane sent %q, want %q", got, want)
	}

	// A new pass hands the head's writes again: their round waits for headRefreshEvery since
	// the last one began, at t0.
	handedAt := t0.Add(headRefreshEvery * 9 / 10)
	m.passEnds(pool, nil, laneWrites("head", laneHead, 3), true, false, handedAt)
	if b, _, wait, done := m.nextSlow(pool, l, handedAt); len(b) != 0 || done || wait != t0.Add(headRefreshEvery).Sub(handedAt) {
		t.Errorf("the head was refreshed again %v after its last round: sent %v (wait %v, done %v)", handedAt.Sub(t0), laneNames(b), wait, done)
	}
	if b, _, _, _ := m.nextSlow(pool, l, t0.Add(headRefreshEvery)); len(b) != 3 {
		t.Errorf("once due the head's round sent %v, want its 3 writes", laneNames(b))
	} else {
		m.slowLanded(pool, l, b, make([]error, len(b)))
	}
	if _, _, _, done := m.nextSlow(pool, l, t0.Add(headRefreshEvery)); !done {
		t.Error("an empty lane is not done")
	}
}

// TestSlowLaneFailures: a write that lost a race asks for a pass once the batch is answered;
// one refused for good is reported, once, to the next pass, and the pool's run of refusals
// lasts until a write of the lane lands.
func TestSlowLaneFailures(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	l := m.passEnds(pool, nil, laneWrites("w", laneOther, 3), true, false, t0)
	batch, _, _, _ := m.nextSlow(pool, l, t0)
	conflict := apierrors.NewConflict(schema.GroupResource{}, "w-000", errors.New("raced"))
	if !m.slowLanded(pool, l, batch[:1], []error{conflict}) {
		// It has more in flight: the pass is asked for when they are answered.
	} else {
		t.Error("a pass was asked for while writes of the lane are in flight")
	}
	if !m.slowLanded(pool, l, batch[1:], make([]error, 2)) {
		t.Error("a lost race asked for no pass")
	}
	if err := m.laneRefusal(pool); err != nil {
		t.Errorf("a lost race was reported as a refusal: %v", err)
	}

	m.passEnds(pool, nil, laneWrites("w", laneOther, 3), true, false, t0)
	batch, _, _, _ = m.nextSlow(pool, l, t0)
	refused := &writeError{obj: batch[0].orig, op: "patch status", err: apierrors.NewForbidden(schema.GroupResource{}, "w-000", errors.New("policy"))}
	if !m.slowLanded(pool, l, batch, []error{refused, nil, nil}) {
		t.Error("a refusal asked for no pass")
	}
	if err := m.laneRefusal(pool); !refusedForGood(err) {
		t.Errorf("the refusal reported is %v", err)
	}
	if err := m.laneRefusal(pool); err != nil {
		t.Errorf("a refusal is reported twice: %v", err)
	}
	if m.laneRefusing(pool) {
		t.Error("writes of the lane landed after the refusal, yet its run of refusals goes on")
	}
	m.passEnds(pool, nil, laneWrites("w", laneOther, 1), true, false, t0)
	batch, _, _, _ = m.nextSlow(pool, l, t0.Add(time.Second))
	m.slowLanded(pool, l, batch, []error{refused})
	if !m.laneRefusing(pool) {
		t.Error("a refusal with nothing landed since does not keep the pool's run of refusals going")
	}
}

// TestReconcileHandsSlowWritesToTheLane: a pass behind a long queue writes its grant before it
// returns, and leaves the waiting statuses to the slow lane, which writes them all.
func TestReconcileHandsSlowWritesToTheLane(t *testing.T) {
	const queued = 3*slowBurst + 5
	objs := []client.Object{withSessionLedger(testPool("p", 1)), testSession("a-grant", "p")}
	for i := range queued {
		s := waitingSession(fmt.Sprintf("w-%03d", i), "p")
		s.Generation = 2 // the spec moved on: each status must be written again
		s.CreationTimestamp = *mt(time.Duration(i) * time.Millisecond)
		objs = append(objs, s)
	}
	var log writeLog
	c := fakeAPI(t, log.funcs(), objs...)
	r, _ := testReconciler(c, c)
	r.laneInline = false
	clock := r.Clock.(*clocktesting.FakePassiveClock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := r.Reconcile(ctx, poolKey("p")); err != nil {
		t.Fatal(err)
	}
	granted := false
	waits := map[string]bool{}
	take := func() {
		for _, w := range log.take() {
			if w == "status session a-grant" {
				granted = true
			}
			if name, ok := strings.CutPrefix(w, "status session "); ok && strings.HasPrefix(name, "w-") {
				waits[name] = true
			}
		}
	}
	take()
	if !granted {
		t.Fatal("the pass returned before its grant was written")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(waits) < queued && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		clock.SetTime(clock.Now().Add(50 * time.Millisecond)) // the lane's pace refills
		take()
	}
	if len(waits) != queued {
		t.Errorf("the slow lane wrote %d of %d waiting statuses", len(waits), queued)
	}
}

// TestSlowLaneWritesFromTheAnswer: a newer write to a claimant the lane is writing waits for
// the answer and goes from it; one the answer already shows is dropped; and the echo of a write
// that outran its answer starts no pass.
func TestSlowLaneWritesFromTheAnswer(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	cached := waitingSession("w-000", "p")
	cached.ResourceVersion = "5"
	// at is a pass's write of position pos, planned from the cached state.
	at := func(pos int32) slowWrite {
		next := cached.DeepCopy()
		next.Status.QueuePosition = pos
		return slowWrite{statusWrite: statusWrite{orig: cached, next: next, notes: []note{{}}}, class: laneOther}
	}
	// answer is a write of position pos, as the API server answered it with resourceVersion rv.
	answer := func(pos int32, rv string) statusWrite {
		w := at(pos).statusWrite
		w.next.SetResourceVersion(rv)
		return w
	}
	l := m.passEnds(pool, nil, []slowWrite{at(3)}, true, false, t0)
	first, _, _, _ := m.nextSlow(pool, l, t0)
	if len(first) != 1 {
		t.Fatalf("sent %v, want the one write", laneNames(first))
	}

	// Its echo outruns the answer: known by what it shows.
	echo := first[0].next.DeepCopyObject().(*v1alpha1.SharedSession)
	echo.ResourceVersion = "6"
	if !m.updated(echo, t0) {
		t.Error("the echo of a write of the lane in flight started a pass")
	}
	if !m.updated(echo, t0) {
		t.Error("the same echo, delivered again, started a pass")
	}
	// Any later state is someone else's change, even one that shows the same status.
	terminated := echo.DeepCopy()
	terminated.ResourceVersion, terminated.Generation = "7", 2
	terminated.Spec.Terminate = true
	if m.updated(terminated, t0) {
		t.Error("a change of the spec after the echo was taken for the echo")
	}
	moved := echo.DeepCopy()
	moved.ResourceVersion = "8"
	if m.updated(moved, t0) {
		t.Error("a second state after the one the write was based on was taken for its echo")
	}

	// A newer pass wants position 2: it waits for the answer.
	m.passEnds(pool, nil, []slowWrite{at(2)}, true, false, t0)
	if b, _, _, _ := m.nextSlow(pool, l, t0); len(b) != 0 {
		t.Fatalf("a second write to a claimant in flight was sent: %v", laneNames(b))
	}
	m.slowLanded(pool, l, []statusWrite{answer(3, "6")}, []error{nil})
	b, _, _, _ := m.nextSlow(pool, l, t0.Add(time.Second))
	if len(b) != 1 {
		t.Fatalf("after the answer the lane sent %v, want the newer write", laneNames(b))
	}
	if b[0].orig.GetResourceVersion() != "6" || b[0].next.(*v1alpha1.SharedSession).Status.QueuePosition != 2 || b[0].notes != nil {
		t.Errorf("the newer write goes from resourceVersion %s with position %d and notes %v; want 6, 2, none (they went with the first)",
			b[0].orig.GetResourceVersion(), b[0].next.(*v1alpha1.SharedSession).Status.QueuePosition, b[0].notes)
	}
	m.slowLanded(pool, l, b, []error{nil})

	// A newer write the answer already shows is dropped.
	m.passEnds(pool, nil, []slowWrite{at(4)}, true, false, t0.Add(2*time.Second))
	m.nextSlow(pool, l, t0.Add(2*time.Second))
	m.passEnds(pool, nil, []slowWrite{at(4)}, true, false, t0.Add(2*time.Second))
	m.slowLanded(pool, l, []statusWrite{answer(4, "9")}, []error{nil})
	if more, _, _, done := m.nextSlow(pool, l, t0.Add(3*time.Second)); len(more) != 0 || !done {
		t.Errorf("a write the answer already shows was sent again: %v (done %v)", laneNames(more), done)
	}
}

// TestPassWaitsForTheLaneBeforeAGrant: a pass that would grant a claimant the slow lane is
// writing writes nothing and looks again in echoDelay; what the lane still holds for that
// claimant is dropped, since the grant replaces it.
func TestPassWaitsForTheLaneBeforeAGrant(t *testing.T) {
	var log writeLog
	next := testSession("next", "p")
	c := fakeAPI(t, log.funcs(), withSessionLedger(testPool("p", 1)), next)
	r, _ := testReconciler(c, c)
	key := poolKey("p").NamespacedName
	queued := laneWrites("next", laneHead, 1)
	queued[0].orig, queued[0].next = next, next.DeepCopy()
	r.memory.passEnds(key, nil, queued, true, false, t0)
	r.memory.writes = map[types.UID]ownWrite{next.UID: {before: "1", rv: rvInFlight, at: t0}}
	got, err := r.Reconcile(context.Background(), poolKey("p"))
	if err != nil || got.RequeueAfter != echoDelay {
		t.Fatalf("Reconcile = %+v, %v; want a look again in echoDelay", got, err)
	}
	if w := log.take(); len(w) != 0 {
		t.Errorf("the pass wrote %v while the lane's answer for its grantee was out", w)
	}
	if n := len(r.memory.lanes[key].writes); n != 0 {
		t.Errorf("the lane still holds %d writes for the claimant the pass waits for", n)
	}
	r.memory.writes = nil // the answer came
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"status pool p", "status session next"}, log.take()); diff != "" {
		t.Errorf("once answered, the pass grants (-want +got):\n%s", diff)
	}
}

// TestSlowLaneDrainsAgain: a lane whose drainer finished asks for a new one with the next
// pass's writes; a lane deleted with its pool is not brought back by its old drainer.
func TestSlowLaneDrainsAgain(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	l := m.passEnds(pool, nil, laneWrites("a", laneOther, 1), true, false, t0)
	b, _, _, _ := m.nextSlow(pool, l, t0)
	m.slowLanded(pool, l, b, make([]error, len(b)))
	if _, _, _, done := m.nextSlow(pool, l, t0); !done {
		t.Fatal("an empty lane is not done")
	}
	if again := m.passEnds(pool, nil, laneWrites("b", laneOther, 1), true, false, t0); again != l {
		t.Fatalf("the next pass's writes got no drainer (lane %p, want %p)", again, l)
	}
	m.poolGone(pool)
	if _, _, _, done := m.nextSlow(pool, l, t0); !done {
		t.Error("the drainer of a pool that is gone goes on")
	}
	if m.lanes[pool] != nil {
		t.Error("the old drainer brought the lane of a pool that is gone back")
	}
}

// kickingLane is a reconciler of pool p (1 licence) over a fake API server holding w, whose
// slow lane drains when told to and whose requests for a pass go to r.kicks.
func kickingLane(t *testing.T, w *v1alpha1.SharedSession) (*PoolReconciler, client.Client) {
	c := fakeAPI(t, interceptor.Funcs{}, withSessionLedger(testPool("p", 1)), w)
	r, _ := testReconciler(c, c)
	r.laneInline = false
	r.kicks = make(chan event.GenericEvent, 4)
	return r, c
}

// TestSlowLaneKicksAfterAConflict: a write of the lane that lost a race to more than a
// heartbeat asks for one pass; one that lost it to a heartbeat alone is sent again from the
// cached state, and asks for none.
func TestSlowLaneKicksAfterAConflict(t *testing.T) {
	w := waitingSession("w", "p")
	r, c := kickingLane(t, w)
	key := poolKey("p").NamespacedName
	ctx := context.Background()

	// The session's heartbeat lands after the write was planned.
	var planned v1alpha1.SharedSession
	if err := c.Get(ctx, client.ObjectKeyFromObject(w), &planned); err != nil {
		t.Fatal(err)
	}
	renewed := planned.DeepCopy()
	renewed.Status.RenewTime = micro(0)
	if err := c.Status().Update(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	send := func() {
		t.Helper()
		next := planned.DeepCopy()
		next.Status.QueuePosition = 2
		l := r.memory.passEnds(key, nil, []slowWrite{{statusWrite: statusWrite{orig: &planned, next: next}, class: laneOther}}, true, false, t0)
		if l == nil {
			t.Fatal("no drainer asked for")
		}
		r.drain(ctx, key, l)
	}
	send()
	var got v1alpha1.SharedSession
	if err := c.Get(ctx, client.ObjectKeyFromObject(w), &got); err != nil || got.Status.QueuePosition != 2 || got.Status.RenewTime == nil {
		t.Errorf("after a heartbeat the lane wrote position %d, renewTime %v (%v); want 2 and the heartbeat kept", got.Status.QueuePosition, got.Status.RenewTime, err)
	}
	select {
	case e := <-r.kicks:
		t.Errorf("a race lost to a heartbeat asked for a pass of %s", client.ObjectKeyFromObject(e.Object))
	default:
	}

	// The holder ends the session: the lane's write loses, and a pass is asked for.
	got.Spec.Terminate = true
	got.Generation = 2
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	send()
	select {
	case e := <-r.kicks:
		if client.ObjectKeyFromObject(e.Object) != key {
			t.Errorf("a pass was asked for %s, want %s", client.ObjectKeyFromObject(e.Object), key)
		}
	default:
		t.Error("a race lost to the holder asked for no pass")
	}
}

// TestLaneRefusalsBackOff: a write of the lane the API server refuses for good is reported by
// the next pass like any refusal, and the pool's backoff grows while nothing of the lane lands.
func TestLaneRefusalsBackOff(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "sharedsessions"}, "w", errors.New("a policy forbids it"))
	funcs := interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
		if obj.GetName() == "w" {
			return forbidden
		}
		return c.SubResource(sub).Update(ctx, obj, opts...)
	}}
	w := waitingSession("w", "p")
	w.Generation = 2 // its status must be written again, by the lane
	// A cap per holder keeps the pool from promising w the next licence: w's write stays one
	// of the lane's ordinary writes, sent after a's, so that nothing of the lane lands after it.
	pool := withSessionLedger(testPool("p", 1), "a")
	pool.Spec.SessionPolicy.MaxPerHolder = 5
	c := fakeAPI(t, funcs, pool, activeSession("a", "p"), w)
	r, _ := testReconciler(c, c)
	clock := r.Clock.(*clocktesting.FakePassiveClock)
	var waits []time.Duration
	for range 3 {
		if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil { // the lane's write is refused
			t.Fatal(err)
		}
		got, err := r.Reconcile(context.Background(), poolKey("p")) // and reported
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, got.RequeueAfter)
		clock.SetTime(clock.Now().Add(got.RequeueAfter))
		r.memory.writes = nil
	}
	if p := poolIn(t, c, "p"); !slices.ContainsFunc(p.Status.Conditions, func(c metav1.Condition) bool {
		return c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonWriteRefused
	}) {
		t.Errorf("the pool does not say a write was refused: %+v", p.Status.Conditions)
	}
	if !(waits[0] < waits[1] && waits[1] < waits[2]) {
		t.Errorf("backoffs %v: want each longer than the last", waits)
	}
}

// TestSlowLaneTakesWritesFromKnownAnswers: a pass that planned from a state one of our writes
// has since replaced (its answer came before the pass ended) hands a write that goes from the
// answer, or none if the answer already shows it.
func TestSlowLaneTakesWritesFromKnownAnswers(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	cached := waitingSession("w", "p")
	cached.ResourceVersion = "5"
	answer := cached.DeepCopy()
	answer.ResourceVersion, answer.Status.QueuePosition = "6", 3
	m.wrote("5", answer, t0)
	planned := func(pos int32) []slowWrite {
		next := cached.DeepCopy()
		next.Status.QueuePosition = pos
		return []slowWrite{{statusWrite: statusWrite{orig: cached, next: next}, class: laneOther}}
	}
	l := m.passEnds(pool, nil, planned(2), true, false, t0)
	b, _, _, _ := m.nextSlow(pool, l, t0)
	if len(b) != 1 || b[0].orig.GetResourceVersion() != "6" {
		t.Fatalf("the lane sends %v from resourceVersion %v, want one write from the answer (6)", laneNames(b), b)
	}
	m.slowLanded(pool, l, b, []error{nil})
	m.wrote("5", answer, t0)
	if m.passEnds(pool, nil, planned(3), true, false, t0); len(m.lanes[pool].writes) != 0 {
		t.Errorf("a write the answer already shows was handed to the lane")
	}
}

// TestSlowLaneHoldsABoundedNumber: a lane holds at most laneHold writes of a class, and asks
// for a pass once it has sent them, to plan the rest.
func TestSlowLaneHoldsABoundedNumber(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	l := m.passEnds(pool, nil, laneWrites("w", laneOther, laneHold+10), true, false, t0)
	if n := len(l.writes); n != laneHold {
		t.Fatalf("the lane holds %d writes, want laneHold (%d)", n, laneHold)
	}
	now := t0
	for range 1000 {
		b, _, _, done := m.nextSlow(pool, l, now)
		if done {
			break
		}
		m.slowLanded(pool, l, b, make([]error, len(b)))
		now = now.Add(time.Second)
	}
	if !m.ranDry(l) {
		t.Error("a lane that left writes out asked for no pass once it ran dry")
	}
	if m.ranDry(l) {
		t.Error("a lane asked twice for the pass that plans what it left out")
	}
}

// TestSlowLaneSlowsWhileHandingOff: after a pass that moved a licence the lane sends at most
// busyBurst at once, refilled at busyRate; busyFor after the last such pass, its quiet pace.
func TestSlowLaneSlowsWhileHandingOff(t *testing.T) {
	var m poolMemory
	pool := types.NamespacedName{Namespace: testNS, Name: "p"}
	l := m.passEnds(pool, nil, laneWrites("w", laneOther, 3*slowBurst), true, true, t0)
	batch, _, wait, _ := m.nextSlow(pool, l, t0)
	if len(batch) != busyBurst {
		t.Fatalf("right after a grant the lane sent %d writes at once, want busyBurst (%d)", len(batch), busyBurst)
	}
	m.slowLanded(pool, l, batch, make([]error, len(batch)))
	if batch, wait, _ = nextAfter(&m, pool, l, t0); len(batch) != 0 || wait < time.Second/time.Duration(2*busyRate) {
		t.Errorf("the busy lane sent %d more at once and waits %v, want none and about 1/busyRate", len(batch), wait)
	}
	quiet := t0.Add(busyFor + time.Second)
	batch, _, _, _ = m.nextSlow(pool, l, quiet)
	if len(batch) != slowBurst {
		t.Errorf("busyFor after the last grant the lane sent %d at once, want slowBurst (%d)", len(batch), slowBurst)
	}
}

func nextAfter(m *poolMemory, pool types.NamespacedName, l *slowLane, now time.Time) ([]statusWrite, time.Duration, bool) {
	batch, _, wait, done := m.nextSlow(pool, l, now)
	return batch, wait, done
}

// TestSlowLaneGroupsItsEvents: the Events of the writes the lane sends a few at a time go
// together, as one Event, once the lane runs dry (or has held them laneEventsEvery).
func TestSlowLaneGroupsItsEvents(t *testing.T) {
	const n = 3*slowBurst + 2
	writes := laneWrites("w", laneOther, n)
	var objs []client.Object
	for i := range writes {
		objs = append(objs, writes[i].orig)
		writes[i].next.(*v1alpha1.SharedSession).Status.QueuePosition = int32(i + 1)
		writes[i].notes = []note{{obj: writes[i].next, transition: allocator.SessionQueued, typ: "Normal", reason: "Queued", action: "Queue", text: "waiting"}}
	}
	var writeLog writeLog
	c := fakeAPI(t, writeLog.funcs(), append(objs, testPool("p", 1))...)
	r, events := testReconciler(c, c)
	r.laneInline = false
	r.Clock = clock.RealClock{} // the lane's pace refills as it goes, in several batches
	key := poolKey("p").NamespacedName
	l := r.memory.passEnds(key, testPool("p", 1), writes, true, false, r.Clock.Now())
	if l == nil {
		t.Fatal("no drainer asked for")
	}
	r.drain(context.Background(), key, l)
	if got := len(writeLog.take()); got != n {
		t.Fatalf("the lane wrote %d statuses, want %d", got, n)
	}
	if len(events.events) != 1 || !strings.HasPrefix(events.events[0], fmt.Sprintf("*v1alpha1.LicensePool p: Normal Queued %d sessions of pool p: w-000, w-001", n)) {
		t.Errorf("events = %q, want one Event for the %d sessions", events.events, n)
	}
}

// TestLaneEvents: the Events held are due laneEventsEvery after the first, and a wait of the
// lane ends when they are.
func TestLaneEvents(t *testing.T) {
	n := note{obj: waitingSession("w", "p"), reason: "Queued"}
	for _, tc := range []struct {
		name      string
		held      bool
		after     time.Duration
		wait      time.Duration
		due       bool
		wantUntil time.Duration
	}{
		{name: "nothing held", wait: time.Second, wantUntil: time.Second},
		{name: "held, just now", held: true, wait: 5 * time.Second, wantUntil: laneEventsEvery},
		{name: "held, a shorter wait", held: true, after: 100 * time.Millisecond, wait: 10 * time.Millisecond, wantUntil: 10 * time.Millisecond},
		{name: "held, nearly due", held: true, after: laneEventsEvery - time.Millisecond, wait: time.Second, wantUntil: time.Millisecond},
		{name: "held, due", held: true, after: laneEventsEvery, wait: time.Second, due: true},
		{name: "held, overdue", held: true, after: 3 * laneEventsEvery, wait: time.Second, due: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e laneEvents
			if tc.held {
				e.hold(testPool("p", 1), []note{n}, t0)
				e.hold(testPool("p", 1), []note{n}, t0.Add(tc.after)) // a later batch keeps the first's time
			}
			now := t0.Add(tc.after)
			if got := e.due(now); got != tc.due {
				t.Errorf("due = %v, want %v", got, tc.due)
			}
			if got := e.until(now, tc.wait); got != tc.wantUntil {
				t.Errorf("until = %v, want %v", got, tc.wantUntil)
			}
			p, notes := e.take()
			if tc.held != (p != nil && len(notes) == 2) {
				t.Errorf("take = %v, %d notes", p, len(notes))
			}
			if p, notes := e.take(); p != nil || notes != nil {
				t.Errorf("a second take = %v, %v; want nothing", p, notes)
			}
		})
	}
}

// TestSlowLaneNamesPromisesSoon: once a new promise the ledger is to name soon lands, the
// lane asks for a pass; other promises wait for the pass promiseLedgerLag later.
func TestSlowLaneNamesPromisesSoon(t *testing.T) {
	for _, soon := range []bool{true, false} {
		t.Run(fmt.Sprintf("nameSoon=%v", soon), func(t *testing.T) {
			w := waitingSession("w", "p")
			r, c := kickingLane(t, w)
			key := poolKey("p").NamespacedName
			next := w.DeepCopy()
			next.Status.Promise = "t1"
			l := r.memory.passEnds(key, nil, []slowWrite{{statusWrite: statusWrite{orig: w, next: next}, class: lanePromise, nameSoon: soon}}, true, false, t0)
			if l == nil {
				t.Fatal("no drainer asked for")
			}
			r.drain(context.Background(), key, l)
			var got v1alpha1.SharedSession
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(w), &got); err != nil || got.Status.Promise != "t1" {
				t.Fatalf("the session shows promise %q (%v), want t1", got.Status.Promise, err)
			}
			select {
			case <-r.kicks:
				if !soon {
					t.Error("a promise the ledger names later asked for a pass")
				}
			default:
				if soon {
					t.Error("a promise the ledger is to name soon asked for no pass")
				}
			}
		})
	}
}

// TestGrantsHoldTheLaneTheyStarted: grants on a promise that began before the pool had a lane
// do not let go of a lane made meanwhile, which later grants hold.
func TestGrantsHoldTheLaneTheyStarted(t *testing.T) {
	pool := poolKey("p").NamespacedName
	var m poolMemory
	early := m.grantsStart(pool)
	if early != nil {
		t.Fatal("grants held a lane the pool does not have")
	}
	l := &slowLane{}
	m.lanes = map[types.NamespacedName]*slowLane{pool: l}
	later := m.grantsStart(pool)
	m.grantsEnd(early, true, t0)
	if l.granting != 1 {
		t.Errorf("the lane is held by %d runs of grants, want the later one", l.granting)
	}
	m.grantsEnd(later, true, t0)
	if l.granting != 0 || !l.moved.Equal(t0) {
		t.Errorf("after the later grants the lane is held by %d, moved %v; want 0 and %v", l.granting, l.moved, t0)
	}
}

// TestRebase: a write planned from an older state of a session moves onto the newer one; the
// session keeps its holder's renewTime, and the time its observed state was first recorded.
func TestRebase(t *testing.T) {
	landed := waitingSession("w", "p")
	landed.ResourceVersion = "8"
	landed.Status.ObservedState, landed.Status.StateChangedAt = v1alpha1.SessionIdle, micro(-time.Second)
	landed.Status.RenewTime = micro(-time.Millisecond)
	waiting := metav1.Condition{Type: v1alpha1.ConditionGranted, Status: metav1.ConditionFalse, Reason: "Waiting", Message: "waiting at position 1 of 1"}
	landed.Status.Conditions = []metav1.Condition{waiting}
	landed.Status.Conditions[0].LastTransitionTime = *mt(-time.Second) // the API server keeps seconds
	for _, tc := range []struct {
		name     string
		plan     func(*v1alpha1.SharedSessionStatus)
		changes  bool
		position int32
		stateAt  *metav1.MicroTime
	}{
		{"only a fresh stamp of the same state", func(st *v1alpha1.SharedSessionStatus) {}, false, 1, landed.Status.StateChangedAt},
		{"a new position", func(st *v1alpha1.SharedSessionStatus) { st.QueuePosition = 2 }, true, 2, landed.Status.StateChangedAt},
		{"a new observed state", func(st *v1alpha1.SharedSessionStatus) { st.ObservedState = v1alpha1.SessionConnected }, true, 1, micro(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			planned := waitingSession("w", "p")
			planned.ResourceVersion = "7"
			planned.Status.ObservedState, planned.Status.StateChangedAt = v1alpha1.SessionIdle, micro(0) // the planning pass's now
			planned.Status.Conditions = []metav1.Condition{waiting}
			planned.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(-time.Second + 123*time.Microsecond))
			tc.plan(&planned.Status)
			w := statusWrite{orig: planned.DeepCopy(), next: planned}
			if got := rebase(&w, landed); got != tc.changes {
				t.Fatalf("rebase reports a change: %v, want %v", got, tc.changes)
			}
			if !tc.changes {
				return
			}
			st := w.next.(*v1alpha1.SharedSession).Status
			if st.QueuePosition != tc.position || !st.StateChangedAt.Equal(tc.stateAt) || !st.RenewTime.Equal(landed.Status.RenewTime) {
				t.Errorf("rebased status: position %d, stateChangedAt %v, renewTime %v; want %d, %v, %v",
					st.QueuePosition, st.StateChangedAt, st.RenewTime, tc.position, tc.stateAt, landed.Status.RenewTime)
			}
			if c := st.Conditions[0]; !c.LastTransitionTime.Equal(&landed.Status.Conditions[0].LastTransitionTime) {
				t.Errorf("the condition, unchanged in status, moved its lastTransitionTime to %v", c.LastTransitionTime)
			}
			if w.orig != landed {
				t.Error("the rebased write is not based on the landed state")
			}
		})
	}
}
