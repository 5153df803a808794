package controllers

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// terminatedHolder is a pool of one shared licence whose ledger lists a, which is Active and
// asked to end, while b waits for the licence.
func terminatedHolder() []client.Object {
	a := activeSession("a", "p")
	a.Spec.Terminate = true
	return []client.Object{withSessionLedger(testPool("p", 1), "a"), a, waitingSession("b", "p")}
}

// grantAfterLedger is a pool of two shared licences whose ledger lists nobody yet, and a new
// session b: a first pass whose write to b conflicts leaves the ledger listing b, and b
// without a phase.
func grantAfterLedger() []client.Object {
	return []client.Object{withSessionLedger(testPool("p", 2)), testSession("b", "p")}
}

func TestApplyWritesInLedgerOrder(t *testing.T) {
	tests := []struct {
		name    string
		objects func() []client.Object
		// settle runs a first pass, unrecorded; in it the writes to settleConflict conflict.
		settle         bool
		settleConflict string
		// writes are the writes of the (next) pass, in order.
		writes []string
		phases map[string]v1alpha1.SessionPhase
		ledger []string
	}{
		{
			name:    "the holder that ends is written first, then the ledger that frees its licence, then the grant",
			objects: terminatedHolder,
			writes:  []string{"status session a", "status pool p", "status session b"},
			phases:  map[string]v1alpha1.SessionPhase{"a": v1alpha1.SessionEnded, "b": v1alpha1.SessionActive},
			ledger:  []string{"b"},
		},
		{
			name:    "the ledger already lists the grantee: its resourceVersion is checked before the grant",
			objects: grantAfterLedger,
			settle:  true, settleConflict: "session b",
			writes: []string{"check pool p", "status session b"},
			phases: map[string]v1alpha1.SessionPhase{"b": v1alpha1.SessionActive},
			ledger: []string{"b"},
		},
		{
			name: "a session turned away is decided on the ledger: written after its check, before the rest",
			objects: func() []client.Object {
				p := withSessionLedger(testPool("p", 1), "a")
				p.Spec.SessionPolicy.WhenExhausted = v1alpha1.WhenExhaustedReject
				return []client.Object{p, activeSession("a", "p"), testSession("c", "p")}
			},
			settle: true, settleConflict: "session c",
			writes: []string{"check pool p", "status session c", "status session a"},
			phases: map[string]v1alpha1.SessionPhase{"a": v1alpha1.SessionActive, "c": v1alpha1.SessionEnded},
			ledger: []string{"a"},
		},
		{
			name: "a pass that grants nothing leaves the pool alone",
			objects: func() []client.Object {
				return []client.Object{withSessionLedger(testPool("p", 1), "a"), activeSession("a", "p"), testSession("b", "p")}
			},
			settle: true,
			writes: nil,
			// b's wait is not announced yet (announceWaitAfter).
			phases: map[string]v1alpha1.SessionPhase{"a": v1alpha1.SessionActive, "b": ""},
			ledger: []string{"a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log writeLog
			c := fakeAPI(t, log.funcs(), tc.objects()...)
			r, _ := testReconciler(c, c)
			if tc.settle {
				log.conflictOn(tc.settleConflict)
				if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
					t.Fatalf("the first pass failed: %v", err)
				}
				log.conflictOn()
				log.take()
			}

			if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
				t.Fatalf("Reconcile failed: %v", err)
			}
			if diff := cmp.Diff(tc.writes, log.take()); diff != "" {
				t.Errorf("writes, in order (-want +got):\n%s", diff)
			}
			phases := map[string]v1alpha1.SessionPhase{}
			for name, s := range sessionsIn(t, c) {
				phases[name] = s.Phase
			}
			if diff := cmp.Diff(tc.phases, phases); diff != "" {
				t.Errorf("phases after the pass (-want +got):\n%s", diff)
			}
			if got := poolIn(t, c, "p").Status.Ledger.Sessions.Holders; !cmp.Equal(got, tc.ledger) {
				t.Errorf("the ledger lists %v, want %v", got, tc.ledger)
			}
		})
	}
}

func TestApplyStopsAtAConflict(t *testing.T) {
	tests := []struct {
		name    string
		objects func() []client.Object
		// settle runs a first pass, unrecorded, in which the writes to settleConflict conflict;
		// in the pass tested, the writes to conflict do.
		settleConflict string
		conflict       string
		writes         []string
		phases         map[string]v1alpha1.SessionPhase
		events         []string
	}{
		{
			name:     "the ledger's write conflicts: the revocation before it stays, the grant is not written",
			objects:  terminatedHolder,
			conflict: "pool p",
			writes:   []string{"status session a", "status pool p: conflict"},
			phases:   map[string]v1alpha1.SessionPhase{"a": v1alpha1.SessionEnded, "b": v1alpha1.SessionWaiting},
			events:   []string{"*v1alpha1.SharedSession a: Normal Terminated ended on request (spec.terminate: true)"},
		},
		{
			name:           "the ledger's check conflicts: the grant is not written",
			objects:        grantAfterLedger,
			settleConflict: "session b",
			conflict:       "pool p",
			writes:         []string{"check pool p: conflict"},
			phases:         map[string]v1alpha1.SessionPhase{"b": ""},
		},
		{
			name:     "the grant's own write conflicts: the ledger stays, the grant is not reported",
			objects:  grantAfterLedger,
			conflict: "session b",
			writes:   []string{"status pool p", "status session b: conflict"},
			phases:   map[string]v1alpha1.SessionPhase{"b": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log writeLog
			c := fakeAPI(t, log.funcs(), tc.objects()...)
			r, events := testReconciler(c, c)
			if tc.settleConflict != "" {
				log.conflictOn(tc.settleConflict)
				if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
					t.Fatalf("the first pass failed: %v", err)
				}
				log.take()
				events.events = nil
			}

			log.conflictOn(tc.conflict)
			got, err := r.Reconcile(context.Background(), poolKey("p"))
			if err != nil {
				t.Errorf("a lost race is retried, not reported: Reconcile failed with %v", err)
			}
			if want := (ctrl.Result{RequeueAfter: conflictDelay}); got != want {
				t.Errorf("Reconcile returned %+v, want %+v", got, want)
			}
			if diff := cmp.Diff(tc.writes, log.take()); diff != "" {
				t.Errorf("writes, in order (-want +got):\n%s", diff)
			}
			phases := map[string]v1alpha1.SessionPhase{}
			for name, s := range sessionsIn(t, c) {
				phases[name] = s.Phase
			}
			if diff := cmp.Diff(tc.phases, phases); diff != "" {
				t.Errorf("phases after the pass (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.events, events.events); diff != "" {
				t.Errorf("events: only the writes that landed are reported (-want +got):\n%s", diff)
			}
		})
	}
}
