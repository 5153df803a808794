package allocator

import "github.com/seatkeeper/seatkeeper/api/v1alpha1"

// Licence is what a decision does to a claimant's hold on a licence. The pool controller
// writes claimants in the ledger's order from it: those that lose a licence before the pool's
// ledger, those that gain one after it.
type Licence int8

const (
	// Keeps: the claimant holds a licence, or does not, as before.
	Keeps Licence = iota
	// Gains: a seat binds, or a session becomes Active.
	Gains
	// Loses: a seat stops being Bound, or a session stops being Active (ended, or back in the
	// queue because the ledger does not list it).
	Loses
)

// Transition is a change of a claimant's phase that people and metrics hear about: the pool
// controller records each as an Event and counts it. NoTransition covers the rest (a message,
// a queue position or a time that moved).
type Transition string

const (
	NoTransition Transition = ""
	// SeatBinds: a seat becomes Bound.
	SeatBinds Transition = "SeatBound"
	// SeatRevoked: a Bound seat goes back to Pending (the limit dropped, the pool expired, ...).
	SeatRevoked Transition = "SeatRevoked"
	// SeatDisabled: a Bound seat is switched off (spec.enabled: false).
	SeatDisabled Transition = "SeatDisabled"
	// SeatWaits: a seat is Pending for a new reason (its SeatResult.Reason).
	SeatWaits Transition = "SeatWaits"
	// SessionGranted: a session becomes Active.
	SessionGranted Transition = "Granted"
	// SessionQueued: a session that had no phase yet is told to wait.
	SessionQueued Transition = "Queued"
	// SessionEnded: a session ends (its SessionResult.EndReason); ending is final.
	SessionEnded Transition = "Ended"
	// SessionNoticed: an Active session is told it ends at its SessionResult.EndsAt, because
	// the pool's capacity dropped below what is in use, or (SessionResult.PreemptedBy set) a
	// waiting session of higher priority takes its licences.
	SessionNoticed Transition = "EndingSoon"
)

// changes records, on each result, what it changes against the snapshot.
func (d *decision) changes(seats []Seat, sessions []Session) {
	for i, s := range seats {
		r := &d.res.Seats[i]
		was, is := s.Phase == v1alpha1.SeatBound, r.Phase == v1alpha1.SeatBound
		switch {
		case was && !is:
			r.Licence, r.Transition = Loses, SeatRevoked
			if r.Phase == v1alpha1.SeatDisabled {
				r.Transition = SeatDisabled
			}
		case !was && is:
			r.Licence, r.Transition = Gains, SeatBinds
		case r.Phase == v1alpha1.SeatPending && r.Reason != s.Reason:
			r.Transition = SeatWaits
		}
	}
	for i, s := range sessions {
		r := &d.res.Sessions[i]
		if r.Delete {
			continue
		}
		was, is := s.Phase == v1alpha1.SessionActive, r.Phase == v1alpha1.SessionActive
		switch {
		case was && !is:
			r.Licence = Loses
		case !was && is:
			r.Licence, r.Transition = Gains, SessionGranted
		}
		switch {
		case r.Phase == v1alpha1.SessionEnded && s.Phase != v1alpha1.SessionEnded:
			r.Transition = SessionEnded
		case r.Phase == v1alpha1.SessionWaiting && s.Phase == "":
			r.Transition = SessionQueued
		case r.EndsAt != nil && (s.EndsAt == nil || r.PreemptedBy != s.PreemptedBy):
			// A new notice, or one for another cause (a notice dropped and another given in
			// the same pass).
			r.Transition = SessionNoticed
		}
	}
	d.res.NeedsFreshRead = d.needsFreshRead(seats, sessions)
}

// needsFreshRead reports whether the decision starts keeping a ledger, takes licences back
// because capacity shrank or because the ledger does not list them, or ends a session because
// its pool or its seat seems missing. The
// snapshot comes from a cache that may lag (a pool or an order it has not heard of, a grant by
// another replica), and an end is final: such a decision is made again on what the API server
// says before it is applied.
func (d *decision) needsFreshRead(seats []Seat, sessions []Session) bool {
	for i := range sessions {
		r := d.res.Sessions[i]
		if r.Transition != SessionEnded {
			continue
		}
		switch r.EndReason {
		case v1alpha1.EndPoolNotFound, v1alpha1.EndNotEntitled, v1alpha1.EndCapacityReduced, v1alpha1.EndPreempted:
			return true
		}
	}
	for i := range sessions {
		if d.res.Sessions[i].Transition == SessionNoticed {
			// A notice is not final, but it reaches agents and people: give it on fresh data.
			return true
		}
	}
	if !d.pool.Found {
		return false
	}
	if (d.res.SeatLedger != nil && d.pool.SeatLedger == nil) || (d.res.SessionLedger != nil && d.pool.SessionLedger == nil) {
		return true
	}
	for i, s := range seats {
		if s.Phase == v1alpha1.SeatBound && (d.res.Seats[i].Reason == v1alpha1.SeatReasonCapacityReduced || d.res.Seats[i].Reason == v1alpha1.SeatReasonGroupLimitReached) {
			// Taken back because a limit or a group's cap is lower than what the cache shows bound.
			return true
		}
		if s.Phase == v1alpha1.SeatBound && d.res.Seats[i].Phase == v1alpha1.SeatPending && d.res.Seats[i].Reason == v1alpha1.SeatReasonLicensesNotAvailable {
			// A seat shown bound that the ledger does not list: the cache may not have
			// heard of the ledger (or the part of it) that records it.
			return true
		}
	}
	for i, s := range sessions {
		if s.Phase == v1alpha1.SessionActive && d.res.Sessions[i].Phase == v1alpha1.SessionWaiting {
			// The same for a session shown Active.
			return true
		}
	}
	return false
}
