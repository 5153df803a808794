package controllers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// A ledger write the API server refuses as too large stalls nothing in silence: the pool says
// why on its Ready condition and in a Warning Event, the session it would have granted says
// why it waits, the pool backs off, and the grant lands once the write is accepted again.
func TestRefusedLedgerWrite(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	var ledgerWrites atomic.Int32
	funcs := interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if p, ok := obj.(*v1alpha1.LicensePool); ok && p.Status.Ledger != nil {
				ledgerWrites.Add(1)
				if refuse.Load() {
					return apierrors.NewRequestEntityTooLargeError("limit is 1048576")
				}
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}
	c := fakeAPI(t, funcs, testPool("p", 1), testSession("a", "p"))
	r, events := testReconciler(c, c)
	clock := clocktesting.NewFakeClock(t0)
	r.Clock = clock

	res, err := r.Reconcile(context.Background(), poolKey("p"))
	if err != nil {
		t.Fatalf("a refused write must not go back to the work queue: %v", err)
	}
	if res.RequeueAfter != refusalBackoff {
		t.Errorf("first backoff: got %v, want %v", res.RequeueAfter, refusalBackoff)
	}
	ready := meta.FindStatusCondition(poolIn(t, c, "p").Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != "False" || ready.Reason != v1alpha1.ReasonWriteRefused ||
		!strings.Contains(ready.Message, "too large") || !strings.Contains(ready.Message, "limit is 1048576") {
		t.Errorf("pool Ready: got %+v, want False, WriteRefused, saying too large and the API server's words", ready)
	}
	a := &v1alpha1.SharedSession{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "a"}, a); err != nil {
		t.Fatal(err)
	}
	granted := meta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionGranted)
	if a.Status.Phase != v1alpha1.SessionWaiting || !strings.Contains(a.Status.Message, "a licence is free, but the API server refused") ||
		granted == nil || granted.Reason != v1alpha1.ReasonWriteRefused {
		t.Errorf("session a: got phase %q, message %q, Granted %+v; want Waiting, saying why", a.Status.Phase, a.Status.Message, granted)
	}
	if !hasEvent(events.events, "Warning WriteRefused") {
		t.Errorf("no Warning WriteRefused event in %q", events.events)
	}

	// Within the backoff, passes write nothing.
	before := ledgerWrites.Load()
	clock.Step(refusalBackoff / 2)
	if res, _ := r.Reconcile(context.Background(), poolKey("p")); res.RequeueAfter != refusalBackoff/2 || ledgerWrites.Load() != before {
		t.Errorf("within the backoff: waited %v and wrote the ledger %d times; want %v and none", res.RequeueAfter, ledgerWrites.Load()-before, refusalBackoff/2)
	}
	// Refused again: the backoff doubles.
	clock.Step(refusalBackoff / 2)
	if res, _ := r.Reconcile(context.Background(), poolKey("p")); res.RequeueAfter != 2*refusalBackoff {
		t.Errorf("second backoff: got %v, want %v", res.RequeueAfter, 2*refusalBackoff)
	}

	// The cause goes away: the next pass after the backoff grants, and the pool is Ready.
	refuse.Store(false)
	clock.Step(2 * refusalBackoff)
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	if got := sessionsIn(t, c)["a"].Phase; got != v1alpha1.SessionActive {
		t.Errorf("session a after the cause went away: %q, want Active", got)
	}
	if !meta.IsStatusConditionTrue(poolIn(t, c, "p").Status.Conditions, v1alpha1.ConditionReady) {
		t.Errorf("pool not Ready once its writes land: %+v", poolIn(t, c, "p").Status.Conditions)
	}
	if r.memory.backingOff(poolKey("p").NamespacedName, clock.Now()) != 0 {
		t.Error("the backoff outlived the refusal")
	}
}

func hasEvent(events []string, part string) bool {
	for _, e := range events {
		if strings.Contains(e, part) {
			return true
		}
	}
	return false
}

func TestRefusedForGood(t *testing.T) {
	gr := schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "licensepools"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"too large", apierrors.NewRequestEntityTooLargeError("limit"), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "LicensePool"}, "p", nil), true},
		{"forbidden, wrapped as apply returns it", &writeError{obj: testPool("p", 1), op: "patch status", err: apierrors.NewForbidden(gr, "p", nil)}, true},
		{"conflict: retry", apierrors.NewConflict(gr, "p", nil), false},
		{"server timeout: retry", apierrors.NewServerTimeout(gr, "patch", 1), false},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusedForGood(tt.err); got != tt.want {
				t.Errorf("refusedForGood(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRefusalBackoff(t *testing.T) {
	var m poolMemory
	key := types.NamespacedName{Namespace: testNS, Name: "p"}
	var got []time.Duration
	for range 10 {
		got = append(got, m.refused(key, t0))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, maxRefusalBackoff, maxRefusalBackoff, maxRefusalBackoff}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs: got %v, want %v", got, want)
		}
	}
	if !m.accepted(key) || m.accepted(key) || m.backingOff(key, t0) != 0 {
		t.Error("accepted must end the run once, and the backoff with it")
	}
}

// A grant held back by a refusal waits: it carries no notice, preemptor nor Overdraft, whatever
// the claimant's cached status still showed (the API refuses preemptedBy without endsAt).
func TestHeldBackGrantCarriesNoPolicyState(t *testing.T) {
	ends := t0.Add(time.Minute)
	orig := activeSession("a", "p")
	orig.Status = sessionStatus(orig, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends,
		PreemptedBy: "b", Overdraft: true}, allocator.Usage{SessionLimit: ptr.To[int32](1), Overdraft: 1})
	planned := orig.DeepCopy()
	w := heldBack(statusWrite{orig: orig, next: planned, grant: true}, "the ledger write was refused")
	st := w.next.(*v1alpha1.SharedSession).Status
	if st.Phase != v1alpha1.SessionWaiting || st.EndsAt != nil || st.PreemptedBy != "" || condOf(st.Conditions, v1alpha1.ConditionOverdraft) != "" {
		t.Errorf("held back: phase %s, endsAt %v, preemptedBy %q, Overdraft %q; want Waiting and none of them",
			st.Phase, st.EndsAt, st.PreemptedBy, condOf(st.Conditions, v1alpha1.ConditionOverdraft))
	}
}
