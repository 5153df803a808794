package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// note is an Event to record, and a transition to count, once the write it reports has landed.
type note struct {
	obj                 client.Object
	transition          allocator.Transition
	typ, reason, action string
	text                string
}

// seatNote is the Event a seat's transition makes, if any; next carries the new status.
func seatNote(next *v1alpha1.SeatAssignment, r allocator.SeatResult) []note {
	n := note{obj: next, transition: r.Transition, text: r.Message}
	switch r.Transition {
	case allocator.SeatBinds:
		n.typ, n.reason, n.action = corev1.EventTypeNormal, "SeatBound", "Bind"
	case allocator.SeatRevoked:
		n.typ, n.reason, n.action = corev1.EventTypeWarning, "SeatRevoked", "Revoke"
	case allocator.SeatDisabled:
		n.typ, n.reason, n.action = corev1.EventTypeNormal, "SeatDisabled", "Revoke"
	case allocator.SeatWaits:
		n.typ, n.reason, n.action = corev1.EventTypeWarning, string(r.Reason), "Wait"
	default:
		return nil
	}
	return []note{n}
}

// sessionNote is the Event a session's transition makes, if any, and OverdraftGranted for a
// grant beyond the pool's limit; next carries the new status.
func sessionNote(next *v1alpha1.SharedSession, r allocator.SessionResult) []note {
	n := note{obj: next, transition: r.Transition, text: r.Message}
	switch {
	case r.Transition == allocator.SessionGranted:
		n.typ, n.reason, n.action = corev1.EventTypeNormal, "Granted", "Grant"
	case r.Transition == allocator.SessionQueued:
		n.typ, n.reason, n.action = corev1.EventTypeNormal, "Queued", "Queue"
	case r.Transition == allocator.SessionNoticed && r.PreemptedBy != "":
		// Not EndingSoon: an administrator tells a preemption from a capacity notice by reason.
		n.typ, n.reason, n.action = corev1.EventTypeWarning, "Preempting", "Preempt"
		n.text = preemptionText(next, r)
	case r.Transition == allocator.SessionNoticed:
		n.typ, n.reason, n.action = corev1.EventTypeWarning, "EndingSoon", "Notice"
	case r.Transition == allocator.SessionEnded:
		n.typ, n.reason, n.action = corev1.EventTypeWarning, string(r.EndReason), "End"
		if r.EndReason == v1alpha1.EndTerminated {
			n.typ = corev1.EventTypeNormal
		}
	default:
		return nil
	}
	notes := []note{n}
	if c := meta.FindStatusCondition(next.Status.Conditions, v1alpha1.ConditionOverdraft); r.Transition == allocator.SessionGranted && r.Overdraft && c != nil {
		// No transition of its own: the grant is counted once, by the note above.
		notes = append(notes, note{obj: next, typ: corev1.EventTypeWarning, reason: "OverdraftGranted", action: "Grant", text: c.Message})
	}
	return notes
}

// preemptionText names the session that takes a preempted session's licences, and when, e.g.
// "session urgent, of higher priority, takes this session's licence at 2026-11-23T12:00:30Z".
func preemptionText(s *v1alpha1.SharedSession, r allocator.SessionResult) string {
	what := "licence"
	if s.Spec.Count > 1 {
		what = "licences"
	}
	when := "now"
	if r.EndsAt != nil {
		when = "at " + r.EndsAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("session %s, of higher priority, takes this session's %s %s", r.PreemptedBy, what, when)
}

// poolNotes report the pool's conditions that turned True, and ReservationsFit when it
// turned False.
func poolNotes(old, next *v1alpha1.LicensePool) []note {
	var notes []note
	for _, typ := range []string{v1alpha1.ConditionExpiringSoon, v1alpha1.ConditionExpired, v1alpha1.ConditionSeatsExhausted, v1alpha1.ConditionSessionsExhausted, v1alpha1.ConditionOverdraft} {
		c := meta.FindStatusCondition(next.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue || meta.IsStatusConditionTrue(old.Status.Conditions, typ) {
			continue
		}
		notes = append(notes, note{obj: next, typ: corev1.EventTypeWarning, reason: typ, action: "Report", text: c.Message})
	}
	if c := meta.FindStatusCondition(next.Status.Conditions, v1alpha1.ConditionReservationsFit); c != nil && c.Status == metav1.ConditionFalse &&
		!meta.IsStatusConditionFalse(old.Status.Conditions, v1alpha1.ConditionReservationsFit) {
		notes = append(notes, note{obj: next, typ: corev1.EventTypeWarning, reason: c.Reason, action: "Report", text: c.Message})
	}
	return notes
}

// report records the notes of writes that landed, as Events and in the metrics.
func (r *PoolReconciler) report(pool *v1alpha1.LicensePool, notes []note) {
	countTransitions(notes)
	r.recordEvents(pool, notes)
}

// recordEvents emits the notes as Events. Notes of one kind (the same reason about the same
// kind of claimant of one pool) that land in one batch of writes become one Event: about the
// claimant when it is alone, else about the pool (the reconciled pool object when there is
// one, so that kubectl describe finds it by UID), naming the claimants. A pass that grants a
// hundred sessions then writes one Event, not a hundred, as it writes the ledger once for all
// of them.
func (r *PoolReconciler) recordEvents(pool *v1alpha1.LicensePool, notes []note) {
	if r.Recorder == nil {
		return
	}
	type kind struct {
		typ, reason, action string
		gvk                 string
		pool                types.NamespacedName
	}
	var kinds []kind
	groups := map[kind][]note{}
	for _, e := range notes {
		k := kind{e.typ, e.reason, e.action, fmt.Sprintf("%T", e.obj), poolOf(e.obj)}
		if groups[k] == nil {
			kinds = append(kinds, k)
		}
		groups[k] = append(groups[k], e)
	}
	for _, k := range kinds {
		g := groups[k]
		if len(g) == 1 {
			r.Recorder.Eventf(g[0].obj, nil, k.typ, k.reason, k.action, "%s", g[0].text)
			continue
		}
		regarding := pool
		if regarding == nil || client.ObjectKeyFromObject(regarding) != k.pool {
			regarding = &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Namespace: k.pool.Namespace, Name: k.pool.Name}}
		}
		r.Recorder.Eventf(regarding, nil, k.typ, k.reason, k.action, "%s", summarize(g))
	}
}

// promiseEventsEvery is how often a pool records the Events of its grants on a promise at most.
// Behind a long queue the ledger records such grants every 150 to 250 ms (promiseLedgerLag),
// and an Event for each of its writes cost the API server a write per five grants or so, beside
// the hand-offs (test/bench's hand-off run: 83 Events in 300 grants; 31 with this). At most one
// a second names the grants since, a second later at most; the first after a quiet second goes
// with the ledger's write, as before.
const promiseEventsEvery = time.Second

// poolOf is the pool a note's object belongs to (or is).
func poolOf(obj client.Object) types.NamespacedName {
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	switch c := obj.(type) {
	case *v1alpha1.SeatAssignment:
		key.Name = c.Spec.PoolName
	case *v1alpha1.SharedSession:
		key.Name = c.Spec.PoolName
	}
	return key
}

// noteLimit keeps a summary under the Events API's 1 KiB limit on a note.
const noteLimit = 900

// summarize is the note of an Event that stands for several: how many, of what, and their
// names, sorted, as far as they fit, e.g. "3 sessions of pool p: a, b, c".
func summarize(g []note) string {
	what := "sessions"
	if _, ok := g[0].obj.(*v1alpha1.SeatAssignment); ok {
		what = "seat assignments"
	}
	names := make([]string, len(g))
	for i, e := range g {
		names[i] = e.obj.GetName()
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s of pool %s: ", len(g), what, poolOf(g[0].obj).Name)
	for i, n := range names {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		if b.Len()+len(sep)+len(n) > noteLimit {
			fmt.Fprintf(&b, "%sand %d more", sep, len(names)-i)
			break
		}
		b.WriteString(sep + n)
	}
	return b.String()
}
