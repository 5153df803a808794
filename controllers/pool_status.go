package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// poolStatus is the status a pool should have after the allocator's decision. It makes no
// client calls; conditions keep their transition times when their status does not change.
func poolStatus(pool *v1alpha1.LicensePool, res allocator.Result, capacity orderCapacity, uids holderUIDs) v1alpha1.LicensePoolStatus {
	u := res.Usage
	st := v1alpha1.LicensePoolStatus{
		ObservedGeneration: pool.Generation,
		Seats: v1alpha1.SeatUsage{Limit: u.SeatLimit, Bound: u.SeatsBound, Pending: u.SeatsPending,
			Summary: allocator.Summary(u.SeatsBound, u.SeatLimit)},
		Sessions: v1alpha1.SessionUsage{Limit: u.SessionLimit, Active: u.SessionsActive, Idle: u.SessionsIdle,
			Waiting: u.Waiting, Summary: allocator.Summary(u.SessionsActive, u.SessionLimit)},
		Orders:     capacity.orders,
		Conditions: append([]metav1.Condition(nil), pool.Status.Conditions...),
	}
	if m := pool.Spec.ManagedBy; m != "" && m != v1alpha1.ControllerName {
		// Another controller keeps this pool's ledger: it is left as that controller wrote it.
		st.Ledger = pool.Status.Ledger
	} else if res.SeatLedger != nil || res.SessionLedger != nil {
		st.Ledger = &v1alpha1.Ledger{}
		var old v1alpha1.Ledger
		if pool.Status.Ledger != nil {
			old = *pool.Status.Ledger
		}
		if res.SeatLedger != nil {
			st.Ledger.Seats = ledgerGrants(res.SeatLedger, old.Seats, uids.seats)
		}
		if res.SessionLedger != nil {
			st.Ledger.Sessions = ledgerGrants(res.SessionLedger, old.Sessions, uids.sessions)
		}
	}
	setPoolConditions(&st, pool, res)
	return st
}

// setPoolConditions sets Ready, Expired, ExpiringSoon, SeatsExhausted and SessionsExhausted.
func setPoolConditions(st *v1alpha1.LicensePoolStatus, pool *v1alpha1.LicensePool, res allocator.Result) {
	gen := pool.Generation
	set := func(typ string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	expiry := "the licence does not expire"
	if pool.Spec.ExpiresAt != nil {
		expiry = "the licence expires at " + pool.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	switch {
	case res.Expired:
		set(v1alpha1.ConditionExpired, true, "Expired", fmt.Sprintf("the licence expired at %s: nothing new is granted; extend spec.expiresAt or add an order", pool.Spec.ExpiresAt.UTC().Format(time.RFC3339)))
		set(v1alpha1.ConditionExpiringSoon, false, "Expired", "the licence has expired")
	case res.ExpiringSoon:
		set(v1alpha1.ConditionExpired, false, "NotExpired", expiry)
		set(v1alpha1.ConditionExpiringSoon, true, "ExpiringSoon", expiry+"; renew it before then")
	default:
		set(v1alpha1.ConditionExpired, false, "NotExpired", expiry)
		set(v1alpha1.ConditionExpiringSoon, false, "NotExpiringSoon", expiry)
	}

	u := res.Usage
	seatsFull := u.SeatLimit != nil && u.SeatsBound >= *u.SeatLimit
	if seatsFull {
		set(v1alpha1.ConditionSeatsExhausted, true, "SeatsExhausted", fmt.Sprintf("every seat is bound (%s), %d waiting", st.Seats.Summary, u.SeatsPending))
	} else {
		set(v1alpha1.ConditionSeatsExhausted, false, "SeatsAvailable", fmt.Sprintf("%s seats bound", st.Seats.Summary))
	}
	sessionsFull := u.SessionLimit != nil && u.SessionsActive >= *u.SessionLimit
	if sessionsFull {
		set(v1alpha1.ConditionSessionsExhausted, true, "SessionsExhausted", fmt.Sprintf("every shared licence is in use (%s), %d waiting", st.Sessions.Summary, u.Waiting))
	} else {
		set(v1alpha1.ConditionSessionsExhausted, false, "SessionsAvailable", fmt.Sprintf("%s shared licences in use", st.Sessions.Summary))
	}

	usage := fmt.Sprintf("%s seats bound, %s shared licences in use, %d waiting", st.Seats.Summary, st.Sessions.Summary, u.Waiting)
	switch {
	case pool.Spec.ManagedBy != "" && pool.Spec.ManagedBy != v1alpha1.ControllerName:
		set(v1alpha1.ConditionReady, true, "ManagedExternally", fmt.Sprintf("grants are decided by %s; seatkeeper reports %s", pool.Spec.ManagedBy, usage))
	case res.Expired:
		set(v1alpha1.ConditionReady, false, "Expired", "the licence has expired: nothing new is granted")
	default:
		set(v1alpha1.ConditionReady, true, "Reconciled", usage)
	}
}
