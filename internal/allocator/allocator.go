// Package allocator decides, for one licence pool, who holds a named seat or a shared licence,
// who waits and in what order, who is ended and why, and when the next deadline falls.
//
// A pool's rules are decided here too: groups of holders with reserved licences and caps, a
// cap per holder, overdraft beyond the limit (policies.go), and preemption by priority
// (preemption.go).
//
// It is the only place where grants are decided. Decide is a pure function of a snapshot (the
// pool, its seat assignments and sessions, and the time): it makes no client calls and reads no
// clock, so the same snapshot always gives the same result. The pool controller builds the
// snapshot from its cache, applies the result and requeues the pool at Result.Next.
package allocator

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Policy is a pool's session policy with its defaults filled in.
type Policy struct {
	HeartbeatTimeout time.Duration
	IdleTimeout      time.Duration // 0: none
	MaxDuration      time.Duration // 0: none
	RetainEnded      time.Duration
	Reject           bool
	RequireSeat      bool
	CountByHolder    bool
	// CapacityGrace is how long a holder the limit no longer covers keeps its licence after
	// its notice; 0 ends it at once.
	CapacityGrace time.Duration
	// MaxPerHolder caps the licences one holder uses at once; 0: no cap.
	MaxPerHolder int
	// Overdraft is how many licences may be granted beyond SessionLimit.
	Overdraft int
	// Preempt lets a waiting session take licences from Active sessions of lower priority,
	// which keep them for PreemptGrace after their notice (0: they end at once).
	Preempt      bool
	PreemptGrace time.Duration
}

// Group is a set of holders named in the pool (see v1alpha1.HolderGroup).
type Group struct {
	Name string
	// Members are holder names, or patterns in which * stands for any run of characters.
	Members []string
	// Reserved licences only members may use; MaxSessions and MaxSeats cap what members use
	// together (nil: no cap).
	Reserved    int
	MaxSessions *int32
	MaxSeats    *int32
}

// DefaultPolicy is the policy of a pool that sets nothing, and of sessions whose pool is missing.
var DefaultPolicy = Policy{HeartbeatTimeout: 60 * time.Second, RetainEnded: 24 * time.Hour}

// Pool is what the allocator needs to know about a pool.
type Pool struct {
	// Name is the pool's name, used in messages.
	Name string
	// Found is false when no pool of that name exists: its claimants cannot be served.
	Found bool
	// ManagedBy names another system that decides grants; empty when seatkeeper decides.
	ManagedBy string
	// SeatLimit and SessionLimit are the effective limits (spec plus orders); nil is unlimited.
	SeatLimit    *int32
	SessionLimit *int32
	// ExpiresAt is the pool's expiry, if any; ExpiryWarning how long before it to warn.
	ExpiresAt     *time.Time
	ExpiryWarning time.Duration
	Policy        Policy
	// SeatLedger and SessionLedger are the entries the pool's status records as holding a
	// licence: a seat's name, a session's v1alpha1.LedgerEntries (one per licence; a session
	// holds only when all of them are recorded). nil means the list is not kept (the limit was
	// unlimited), and the claimants' own status says who holds.
	SeatLedger    []string
	SessionLedger []string
	// Groups are the pool's groups, in the order of its spec: a holder belongs to the first
	// that matches it.
	Groups []Group
	// CapacityChanges are instants at which an order's term starts or ends: the pool must be
	// looked at again then.
	CapacityChanges []time.Time
}

// Seat is one SeatAssignment of the pool.
type Seat struct {
	Name     string
	Created  time.Time
	Kind     v1alpha1.AssigneeKind
	Assignee string
	Enabled  bool
	Phase    v1alpha1.SeatPhase
	Reason   v1alpha1.SeatReason
	Message  string
	BoundAt  *time.Time
}

// Session is one SharedSession of the pool.
type Session struct {
	Name     string
	Created  time.Time
	Holder   string
	State    v1alpha1.SessionState
	Priority int32
	// Count is how many licences the session takes, all or none (spec.count); 0 reads as 1.
	Count     int32
	Terminate bool

	Phase          v1alpha1.SessionPhase
	EndReason      v1alpha1.EndReason
	Message        string
	QueuePosition  int32
	RenewTime      *time.Time
	GrantedAt      *time.Time
	EndedAt        *time.Time
	StateChangedAt *time.Time
	ObservedState  v1alpha1.SessionState
	// EndsAt is set while the session is under notice (see Policy.CapacityGrace), and
	// PreemptedBy too when the notice is for the waiting session it names.
	EndsAt      *time.Time
	PreemptedBy string
}

// SeatResult is the status a seat should have, and what that changes.
type SeatResult struct {
	Phase   v1alpha1.SeatPhase
	Reason  v1alpha1.SeatReason
	Message string
	BoundAt *time.Time

	Licence    Licence
	Transition Transition
}

// SessionResult is the status a session should have, or that it should be deleted, and what
// that changes.
type SessionResult struct {
	Phase          v1alpha1.SessionPhase
	QueuePosition  int32
	EndReason      v1alpha1.EndReason
	Message        string
	GrantedAt      *time.Time
	EndedAt        *time.Time
	StateChangedAt *time.Time
	ObservedState  v1alpha1.SessionState
	// EndsAt is when an Active session under notice ends; nil when it is not under notice.
	EndsAt *time.Time
	// PreemptedBy names the waiting session an Active one under notice gives its licences to;
	// empty for a notice of reduced capacity.
	PreemptedBy string
	// Overdraft is true for an Active session holding licences beyond the limit.
	Overdraft bool
	// Delete is true for an Ended session past its retention.
	Delete bool

	Licence    Licence
	Transition Transition
}

// Usage is the pool's counts after the decision.
type Usage struct {
	SeatLimit    *int32
	SeatsBound   int32
	SeatsPending int32
	// SeatsWaiting are the Pending seats that wait for a seat to free (LicensesNotAvailable,
	// CapacityReduced): not duplicates, nor seats of a missing or expired pool.
	SeatsWaiting   int32
	SessionLimit   *int32
	SessionsActive int32 // licences in use (see units)
	SessionsIdle   int32 // licences of Active sessions in state Idle
	Waiting        int32 // sessions waiting
	// WaitingLicences are the licences the waiting sessions ask for.
	WaitingLicences int32
	// SessionsOverdraft is the licences in use beyond SessionLimit; Overdraft how many the
	// pool allows beyond it.
	SessionsOverdraft int32
	Overdraft         int32
	// Reserved is the licences the groups reserve (as honoured: see ReservationsFit).
	Reserved int32
	// Groups are each group's counts, in the pool's order.
	Groups []GroupUsage
}

// GroupUsage is one group's counts after the decision.
type GroupUsage struct {
	Name            string
	Reserved        int32
	MaxSessions     *int32
	SessionsActive  int32 // licences the members use
	SessionsWaiting int32 // the members' sessions in the queue
	MaxSeats        *int32
	SeatsBound      int32
}

// Result is the allocator's decision for one pool.
type Result struct {
	// Seats and Sessions are in the order of the snapshot's slices.
	Seats    []SeatResult
	Sessions []SessionResult
	// SeatLedger and SessionLedger are the entries to record, sorted, one per licence (see
	// Pool); nil when not kept. Without countBy Holder, len(SessionLedger) is the licences in
	// use; with it, each Active session is recorded in full, so the ledger lists at least the
	// licences in use.
	SeatLedger    []string
	SessionLedger []string
	Usage         Usage
	Expired       bool
	ExpiringSoon  bool
	// ReservationsFit is false when the groups reserve more licences than the limit; the
	// reservations are then honoured in the groups' order until the limit, and
	// ReservationsMessage says so.
	ReservationsFit     bool
	ReservationsMessage string
	// Next is the earliest future deadline the decision depends on; zero when none.
	Next time.Time
	// NeedsFreshRead asks for the decision to be made again on a snapshot read from the API
	// server rather than a cache before it is applied (see needsFreshRead).
	NeedsFreshRead bool
}

// Decide computes who holds what in the pool at time now.
func Decide(pool Pool, seats []Seat, sessions []Session, now time.Time) Result {
	d := decision{pool: pool, now: now, rules: newRules(pool), seatsInGroup: make([]int, len(pool.Groups))}
	if pool.Found && pool.ExpiresAt != nil {
		d.res.Expired = !now.Before(*pool.ExpiresAt)
		warnAt := pool.ExpiresAt.Add(-pool.ExpiryWarning)
		d.res.ExpiringSoon = !d.res.Expired && !now.Before(warnAt)
		if !d.res.Expired {
			d.wake(*pool.ExpiresAt)
			if !d.res.ExpiringSoon {
				d.wake(warnAt)
			}
		}
	}
	for _, t := range pool.CapacityChanges {
		if t.After(now) {
			d.wake(t)
		}
	}
	d.decideSeats(seats)
	d.decideSessions(sessions, d.boundAssignees(seats))
	d.changes(seats, sessions)
	return d.res
}

type decision struct {
	pool  Pool
	now   time.Time
	rules *rules
	res   Result
	// seatsInGroup is how many seats each group's members hold after the seat decision.
	seatsInGroup []int
	// allInUse is the pool's "all n shared licences ... are in use", made once for the
	// messages of a whole queue (see waitingMessage).
	allInUse string
}

// wake records t as a deadline the pool must be looked at again by.
func (d *decision) wake(t time.Time) {
	if d.res.Next.IsZero() || t.Before(d.res.Next) {
		d.res.Next = t
	}
}

func (d *decision) external() bool {
	return d.pool.ManagedBy != "" && d.pool.ManagedBy != v1alpha1.ControllerName
}

// boundAssignees are the assignee names holding a seat after the seat decision.
func (d *decision) boundAssignees(seats []Seat) map[string]bool {
	bound := map[string]bool{}
	for i, s := range seats {
		if d.res.Seats[i].Phase == v1alpha1.SeatBound {
			// A session's holder is a person: a Device seat of the same name entitles it too, as
			// before; e-mail-like names compare without regard to case.
			bound[identity(v1alpha1.AssigneeUser, s.Assignee)] = true
		}
	}
	return bound
}

func inLedger(ledger []string) map[string]bool {
	if ledger == nil {
		return nil
	}
	m := make(map[string]bool, len(ledger))
	for _, n := range ledger {
		m[n] = true
	}
	return m
}

func timePtr(t time.Time) *time.Time { return &t }

func limitString(limit *int32) string {
	if limit == nil {
		return "∞"
	}
	return fmt.Sprint(*limit)
}

// Summary renders used/limit for people, with ∞ for no limit.
func Summary(used int32, limit *int32) string {
	return fmt.Sprintf("%d/%s", used, limitString(limit))
}

// sortedNames returns the names, sorted, as a non-nil slice.
func sortedNames(names []string) []string {
	out := append(make([]string, 0, len(names)), names...)
	slices.Sort(out)
	return out
}

// byAge orders claimants oldest first, then by name.
func byAge(aCreated, bCreated time.Time, aName, bName string) int {
	if c := aCreated.Compare(bCreated); c != 0 {
		return c
	}
	return cmp.Compare(aName, bName)
}
