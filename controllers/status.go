package controllers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// This file answers "what status should this object have": for seats, sessions and pools
// from the allocator's result, for orders from what they name. The functions make no client
// calls, and conditions keep their transition times when their status does not change.

// setCondition is the one way a condition is set. A condition must carry a reason: an empty
// one is written Unknown.
func setCondition(conds *[]metav1.Condition, typ string, ok bool, reason, msg string, gen int64) {
	if reason == "" {
		reason = v1alpha1.ReasonUnknown
	}
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// removeCondition removes the condition of type typ, if there is one. (meta.RemoveStatusCondition
// allocates a new slice even when there is none to remove, and a pass asks this of every
// session it looks at.)
func removeCondition(conds *[]metav1.Condition, typ string) {
	if meta.FindStatusCondition(*conds, typ) != nil {
		meta.RemoveStatusCondition(conds, typ)
	}
}

// seatStatus is the status a seat should have for the allocator's result.
func seatStatus(s *v1alpha1.SeatAssignment, r allocator.SeatResult) v1alpha1.SeatAssignmentStatus {
	st := v1alpha1.SeatAssignmentStatus{
		ObservedGeneration: s.Generation,
		Phase:              r.Phase,
		Reason:             r.Reason,
		Message:            r.Message,
		BoundAt:            toTime(r.BoundAt),
		Conditions:         append([]metav1.Condition(nil), s.Status.Conditions...),
	}
	if st.BoundAt != nil && s.Status.BoundAt != nil && st.BoundAt.Equal(s.Status.BoundAt) {
		st.BoundAt = s.Status.BoundAt
	}
	bound := r.Phase == v1alpha1.SeatBound
	// A switched-off seat is as its spec asks: Ready, though it holds nothing.
	ready := bound || r.Phase == v1alpha1.SeatDisabled
	setCondition(&st.Conditions, v1alpha1.ConditionBound, bound, string(r.Reason), r.Message, s.Generation)
	setCondition(&st.Conditions, v1alpha1.ConditionReady, ready, string(r.Reason), r.Message, s.Generation)
	return st
}

// sessionStatus is the status a session should have for the allocator's result; u is the
// pool's usage, for the message of a session in overdraft. It keeps the holder's renewTime as
// it is: the merge patch that writes the status then leaves it alone.
func sessionStatus(s *v1alpha1.SharedSession, r allocator.SessionResult, u allocator.Usage) v1alpha1.SharedSessionStatus {
	st := v1alpha1.SharedSessionStatus{
		RenewTime:          s.Status.RenewTime,
		ObservedGeneration: s.Generation,
		Phase:              r.Phase,
		QueuePosition:      r.QueuePosition,
		GrantedAt:          keepMicro(s.Status.GrantedAt, toMicro(r.GrantedAt)),
		EndedAt:            keepMicro(s.Status.EndedAt, toMicro(r.EndedAt)),
		StateChangedAt:     keepMicro(s.Status.StateChangedAt, toMicro(r.StateChangedAt)),
		ObservedState:      r.ObservedState,
		EndsAt:             keepMicro(s.Status.EndsAt, toMicro(r.EndsAt)),
		EndReason:          r.EndReason,
		Message:            r.Message,
		Conditions:         append([]metav1.Condition(nil), s.Status.Conditions...),
	}
	granted := r.Phase == v1alpha1.SessionActive
	reason := string(r.Phase)
	switch r.Phase {
	case v1alpha1.SessionActive:
		reason = v1alpha1.ReasonGranted
	case v1alpha1.SessionEnded:
		reason = string(r.EndReason)
	}
	setCondition(&st.Conditions, v1alpha1.ConditionGranted, granted, reason, r.Message, s.Generation)
	setCondition(&st.Conditions, v1alpha1.ConditionReady, granted, reason, r.Message, s.Generation)
	// EndingSoon and Overdraft are there only while they hold, so that the many sessions never
	// noticed, nor granted beyond the limit, carry no condition for them.
	if r.EndsAt != nil {
		reason := v1alpha1.EndCapacityReduced
		if r.PreemptedBy != "" {
			// The API refuses preemptedBy without endsAt: it is written only with a notice.
			st.PreemptedBy, reason = r.PreemptedBy, v1alpha1.EndPreempted
		}
		setCondition(&st.Conditions, v1alpha1.ConditionEndingSoon, true, string(reason), r.Message, s.Generation)
	} else {
		removeCondition(&st.Conditions, v1alpha1.ConditionEndingSoon)
	}
	if r.Overdraft && granted {
		setCondition(&st.Conditions, v1alpha1.ConditionOverdraft, true, v1alpha1.ReasonOverdraft, overdraftMessage(s, u), s.Generation)
	} else {
		removeCondition(&st.Conditions, v1alpha1.ConditionOverdraft)
	}
	return st
}

// overdraftMessage says that a session holds licences beyond its pool's limit, e.g. "holds a
// licence beyond pool cfd's limit of 10 (overdraft: 2 allowed)". In a pool that allows no
// overdraft, that is a session kept after the limit dropped, under notice (EndingSoon).
func overdraftMessage(s *v1alpha1.SharedSession, u allocator.Usage) string {
	what := "a licence"
	if s.Spec.Count > 1 {
		what = "licences"
	}
	if u.Overdraft == 0 {
		return fmt.Sprintf("holds %s beyond pool %s's limit of %s, which allows no overdraft", what, s.Spec.PoolName, limitText(u.SessionLimit))
	}
	return fmt.Sprintf("holds %s beyond pool %s's limit of %s (overdraft: %d allowed)", what, s.Spec.PoolName, limitText(u.SessionLimit), u.Overdraft)
}

// limitText renders a limit for people: ∞ for none.
func limitText(limit *int32) string {
	if limit == nil {
		return "∞"
	}
	return fmt.Sprint(*limit)
}

// keepMicro returns old when it is the same instant as new (so the object does not change),
// else new.
func keepMicro(old, new *metav1.MicroTime) *metav1.MicroTime {
	if old != nil && new != nil && old.Time.Equal(new.Time) {
		return old
	}
	return new
}

// poolStatus is the status a pool should have after the allocator's decision: usage, the
// orders that count, the ledger (see ledger.go) and the conditions.
func poolStatus(pool *v1alpha1.LicensePool, res allocator.Result, capacity orderCapacity, ledger *v1alpha1.Ledger) v1alpha1.LicensePoolStatus {
	u := res.Usage
	st := v1alpha1.LicensePoolStatus{
		ObservedGeneration: pool.Generation,
		Seats: v1alpha1.SeatUsage{Limit: u.SeatLimit, Bound: u.SeatsBound, Pending: u.SeatsPending,
			Summary: allocator.Summary(u.SeatsBound, u.SeatLimit)},
		Sessions: v1alpha1.SessionUsage{Limit: u.SessionLimit, Active: u.SessionsActive, Idle: u.SessionsIdle,
			Waiting: u.Waiting, Summary: allocator.Summary(u.SessionsActive, u.SessionLimit),
			Overdraft: u.SessionsOverdraft, Reserved: u.Reserved},
		Groups:     groupStatus(u.Groups),
		Orders:     capacity.orders,
		Ledger:     ledger,
		Conditions: append([]metav1.Condition(nil), pool.Status.Conditions...),
	}
	setPoolConditions(&st, pool, res)
	setPolicyConditions(&st, pool, res)
	return st
}

// groupStatus is each group's usage, in the pool's order; nil when the pool has no groups.
func groupStatus(groups []allocator.GroupUsage) []v1alpha1.GroupUsage {
	if len(groups) == 0 {
		return nil
	}
	out := make([]v1alpha1.GroupUsage, len(groups))
	for i, g := range groups {
		out[i] = v1alpha1.GroupUsage{Name: g.Name, SessionsActive: g.SessionsActive, SessionsWaiting: g.SessionsWaiting,
			ReservedSessions: g.Reserved, MaxSessions: g.MaxSessions, SeatsBound: g.SeatsBound, MaxSeats: g.MaxSeats}
	}
	return out
}

// setPoolConditions sets Ready, Expired, ExpiringSoon, SeatsExhausted and SessionsExhausted.
func setPoolConditions(st *v1alpha1.LicensePoolStatus, pool *v1alpha1.LicensePool, res allocator.Result) {
	set := func(typ string, ok bool, reason, msg string) {
		setCondition(&st.Conditions, typ, ok, reason, msg, pool.Generation)
	}
	expiry := "the licence does not expire"
	if pool.Spec.ExpiresAt != nil {
		expiry = "the licence expires at " + pool.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	switch {
	case res.Expired:
		set(v1alpha1.ConditionExpired, true, v1alpha1.ReasonExpired, fmt.Sprintf("the licence expired at %s: nothing new is granted; extend spec.expiresAt or add an order", pool.Spec.ExpiresAt.UTC().Format(time.RFC3339)))
		set(v1alpha1.ConditionExpiringSoon, false, v1alpha1.ReasonExpired, "the licence has expired")
	case res.ExpiringSoon:
		set(v1alpha1.ConditionExpired, false, v1alpha1.ReasonNotExpired, expiry)
		set(v1alpha1.ConditionExpiringSoon, true, v1alpha1.ReasonExpiringSoon, expiry+"; renew it before then")
	default:
		set(v1alpha1.ConditionExpired, false, v1alpha1.ReasonNotExpired, expiry)
		set(v1alpha1.ConditionExpiringSoon, false, v1alpha1.ReasonNotExpiringSoon, expiry)
	}

	u := res.Usage
	if u.SeatLimit != nil && u.SeatsBound >= *u.SeatLimit {
		set(v1alpha1.ConditionSeatsExhausted, true, v1alpha1.ReasonSeatsExhausted, fmt.Sprintf("every seat is bound (%s), %d waiting for one", st.Seats.Summary, u.SeatsWaiting))
	} else {
		set(v1alpha1.ConditionSeatsExhausted, false, v1alpha1.ReasonSeatsAvailable, fmt.Sprintf("%s seats bound", st.Seats.Summary))
	}
	if u.SessionLimit != nil && u.SessionsActive >= *u.SessionLimit {
		set(v1alpha1.ConditionSessionsExhausted, true, v1alpha1.ReasonSessionsExhausted, fmt.Sprintf("every shared licence is in use (%s), %d waiting", st.Sessions.Summary, u.Waiting))
	} else {
		set(v1alpha1.ConditionSessionsExhausted, false, v1alpha1.ReasonSessionsAvailable, fmt.Sprintf("%s shared licences in use", st.Sessions.Summary))
	}

	overdraft := ""
	if u.SessionsOverdraft > 0 {
		overdraft = fmt.Sprintf(" (%d in overdraft)", u.SessionsOverdraft)
	}
	usage := fmt.Sprintf("%s seats bound, %s shared licences in use%s, %d waiting", st.Seats.Summary, st.Sessions.Summary, overdraft, u.Waiting)
	switch {
	case managedElsewhere(pool):
		set(v1alpha1.ConditionReady, true, v1alpha1.ReasonManagedExternally, fmt.Sprintf("grants are decided by %s; seatkeeper reports %s", pool.Spec.ManagedBy, usage))
	case res.Expired:
		set(v1alpha1.ConditionReady, false, v1alpha1.ReasonExpired, "the licence has expired: nothing new is granted")
	default:
		set(v1alpha1.ConditionReady, true, v1alpha1.ReasonReconciled, usage)
	}
}

// setPolicyConditions sets Overdraft while the pool allows overdraft, and ReservationsFit
// while a group reserves licences; each is removed when its spec no longer asks for it.
func setPolicyConditions(st *v1alpha1.LicensePoolStatus, pool *v1alpha1.LicensePool, res allocator.Result) {
	set := func(typ string, ok bool, reason, msg string) {
		setCondition(&st.Conditions, typ, ok, reason, msg, pool.Generation)
	}
	u := res.Usage
	limit := limitText(u.SessionLimit)
	// The allocator reports what spec.overdraftSessions allows (Usage.Overdraft), as it does
	// the limit.
	switch allowed := u.Overdraft; {
	case allowed == 0:
		removeCondition(&st.Conditions, v1alpha1.ConditionOverdraft)
	case u.SessionsOverdraft > 0:
		set(v1alpha1.ConditionOverdraft, true, v1alpha1.ReasonOverdraft, fmt.Sprintf(
			"%d shared licences in use beyond the limit of %s (overdraft: %d allowed): the sessions holding them carry the condition Overdraft, and are covered first as licences free up",
			u.SessionsOverdraft, limit, allowed))
	default:
		set(v1alpha1.ConditionOverdraft, false, v1alpha1.ReasonWithinLimit, fmt.Sprintf(
			"no shared licence in use beyond the limit of %s; up to %d more may be granted when every licence is in use", limit, allowed))
	}

	var reserved int32
	for _, g := range pool.Spec.Groups {
		reserved += ptr.Deref(g.ReservedSessions, 0)
	}
	switch {
	case reserved == 0:
		removeCondition(&st.Conditions, v1alpha1.ConditionReservationsFit)
	case res.ReservationsFit && u.SessionLimit == nil:
		set(v1alpha1.ConditionReservationsFit, true, v1alpha1.ReasonReservationsFit,
			fmt.Sprintf("the groups reserve %d shared licences; the pool has no limit", reserved))
	case res.ReservationsFit:
		set(v1alpha1.ConditionReservationsFit, true, v1alpha1.ReasonReservationsFit,
			fmt.Sprintf("the groups reserve %d of the %s shared licences", reserved, limit))
	default:
		msg := res.ReservationsMessage
		if msg == "" {
			msg = fmt.Sprintf("the groups reserve %d shared licences, more than the limit of %s: the reservations are honoured in the groups' order until the limit", reserved, limit)
		}
		set(v1alpha1.ConditionReservationsFit, false, v1alpha1.ReasonReservationsExceedLimit, msg)
	}
}

// managedElsewhere reports whether another controller decides the pool's grants.
func managedElsewhere(pool *v1alpha1.LicensePool) bool {
	return pool.Spec.ManagedBy != "" && pool.Spec.ManagedBy != v1alpha1.ControllerName
}

// orderStatus is the status an order should have at now, and whether its capacity counts
// (Fulfilled).
func orderStatus(o *v1alpha1.CustomerOrder, w orderWorld, now time.Time) (v1alpha1.CustomerOrderStatus, bool) {
	st := v1alpha1.CustomerOrderStatus{
		ObservedGeneration: o.Generation,
		Phase:              orderPhase(o, now),
		Conditions:         append([]metav1.Condition(nil), o.Status.Conditions...),
	}
	var fulfilled bool
	var reason, msg string
	ready := true
	switch st.Phase {
	case v1alpha1.OrderUnassigned:
		reason, msg = v1alpha1.ReasonUnassigned, "the order is not assigned to a customer yet: set spec.customer to the customer's namespace"
	case v1alpha1.OrderCancelled:
		reason, msg = v1alpha1.ReasonCancelled, "the order was cancelled: its capacity no longer counts"
	case v1alpha1.OrderExpired:
		reason, msg = v1alpha1.ReasonExpired, fmt.Sprintf("the order's term ended at %s: its capacity no longer counts", o.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	case v1alpha1.OrderScheduled:
		reason, msg = v1alpha1.ReasonScheduled, fmt.Sprintf("the order's term starts at %s: its capacity counts from then", o.Spec.StartsAt.UTC().Format(time.RFC3339))
	default:
		switch bad := mismatches(o, w); {
		case !w.namespaceFound:
			ready = false
			reason, msg = v1alpha1.ReasonCustomerNotFound, fmt.Sprintf("namespace %s does not exist: the order is fulfilled as soon as it is created", o.Spec.Customer)
		case len(bad) > 0:
			st.Phase, ready = v1alpha1.OrderInvalid, false
			reason, msg = v1alpha1.ReasonProductMismatch, strings.Join(bad, "; ")+": give the item another poolName, or correct its product"
		default:
			fulfilled, reason = true, v1alpha1.ReasonFulfilled
			var parts []string
			for _, it := range o.Spec.Items {
				st.Pools = append(st.Pools, v1alpha1.OrderPool{Namespace: o.Spec.Customer, Name: it.TargetPool(),
					Seats: it.Seats, ConcurrentSessions: it.ConcurrentSessions})
				parts = append(parts, fmt.Sprintf("%d seats and %d shared licences to pool %s", it.Seats, it.ConcurrentSessions, it.TargetPool()))
			}
			msg = fmt.Sprintf("adds %s in namespace %s", strings.Join(parts, ", "), o.Spec.Customer)
		}
	}
	setCondition(&st.Conditions, v1alpha1.ConditionFulfilled, fulfilled, reason, msg, o.Generation)
	setCondition(&st.Conditions, v1alpha1.ConditionReady, ready, reason, msg, o.Generation)
	return st, fulfilled
}

// mismatches lists the items whose pool exists for another product.
func mismatches(o *v1alpha1.CustomerOrder, w orderWorld) []string {
	var bad []string
	for _, it := range o.Spec.Items {
		if p := w.pools[it.TargetPool()]; p != nil && p.Spec.Product != it.Product {
			bad = append(bad, fmt.Sprintf("pool %s in namespace %s licenses product %s, but the order's item is for product %s",
				it.TargetPool(), o.Spec.Customer, p.Spec.Product, it.Product))
		}
	}
	return bad
}
