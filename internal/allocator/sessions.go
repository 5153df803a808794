package allocator

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// decideSessions grants shared licences. A session first meets its deadlines (terminate,
// heartbeat, pool expiry, seat requirement, idle and duration limits); holders that remain
// keep their licence unless the limit dropped, in which case the most recently granted end
// (CapacityReduced); the queue is then served by priority, creation time and name, and what
// is left of it waits in order (or is turned away); last, the licences in use are counted.
func (d *decision) decideSessions(sessions []Session, seated map[string]bool) {
	d.res.Sessions = make([]SessionResult, len(sessions))
	d.res.Usage.SessionLimit = d.pool.SessionLimit
	holders, waiters := d.meetDeadlines(sessions, seated)
	units := d.keepHolders(sessions, holders)
	queue := d.serveQueue(sessions, waiters, units)
	d.placeQueue(queue)
	d.countSessions(sessions, units)
}

// meetDeadlines starts each session's result from its status, ends those past a deadline, and
// sorts the rest into holders (by the ledger when it is kept) and waiters.
func (d *decision) meetDeadlines(sessions []Session, seated map[string]bool) (holders, waiters []int) {
	ledger := inLedger(d.pool.SessionLedger)
	for i, s := range sessions {
		r := SessionResult{Phase: s.Phase, QueuePosition: s.QueuePosition, EndReason: s.EndReason, Message: s.Message,
			GrantedAt: s.GrantedAt, EndedAt: s.EndedAt, StateChangedAt: s.StateChangedAt, ObservedState: s.ObservedState}
		switch {
		case s.Phase == v1alpha1.SessionEnded:
			d.res.Sessions[i] = d.retain(r)
			continue
		case d.external():
			d.res.Sessions[i] = r
			continue
		}
		if r.ObservedState != s.State || r.StateChangedAt == nil {
			r.ObservedState, r.StateChangedAt = s.State, timePtr(d.now)
		}
		d.res.Sessions[i] = r
		if d.endOnDeadline(i, s, seated) {
			continue
		}
		held := s.Phase == v1alpha1.SessionActive
		if ledger != nil {
			held = ledger[s.Name]
		}
		if !held {
			waiters = append(waiters, i)
			continue
		}
		if d.res.Sessions[i].GrantedAt == nil || s.Phase != v1alpha1.SessionActive {
			d.res.Sessions[i].GrantedAt = timePtr(d.now)
		}
		if !d.endOnLimits(i, s) {
			holders = append(holders, i)
		}
	}
	return holders, waiters
}

// endOnDeadline ends a session that may not hold or wait any more, and otherwise records its
// heartbeat deadline. It reports whether the session ended.
func (d *decision) endOnDeadline(i int, s Session, seated map[string]bool) bool {
	p, pol := d.pool, d.pool.Policy
	lastRenew := s.Created
	if s.RenewTime != nil && s.RenewTime.After(lastRenew) {
		lastRenew = *s.RenewTime
	}
	heartbeatDeadline := lastRenew.Add(pol.HeartbeatTimeout)
	switch {
	case !p.Found:
		d.end(i, v1alpha1.EndPoolNotFound, fmt.Sprintf("pool %s does not exist in this namespace", p.Name))
	case s.Terminate:
		d.end(i, v1alpha1.EndTerminated, "ended on request (spec.terminate: true)")
	case !d.now.Before(heartbeatDeadline):
		d.end(i, v1alpha1.EndHeartbeatExpired, fmt.Sprintf("no heartbeat since %s (heartbeatTimeout %s); the licence was freed",
			lastRenew.UTC().Format(time.RFC3339), pol.HeartbeatTimeout))
	case d.res.Expired:
		d.end(i, v1alpha1.EndPoolExpired, fmt.Sprintf("pool %s expired at %s", p.Name, p.ExpiresAt.UTC().Format(time.RFC3339)))
	case pol.RequireSeat && !seated[identity(v1alpha1.AssigneeUser, s.Holder)]:
		d.end(i, v1alpha1.EndNotEntitled, fmt.Sprintf("%s has no Bound seat in pool %s, which requires one for sessions (sessionPolicy.requireSeat)", s.Holder, p.Name))
	default:
		d.wake(heartbeatDeadline)
		return false
	}
	return true
}

// keepHolders lets the holders keep their licences. When there are more than the limit, the
// most recently granted are over it: they end at once, or with a grace period get a notice and
// keep their licence until it runs out. It returns the licences in use.
func (d *decision) keepHolders(sessions []Session, holders []int) *units {
	units := newUnits(d.pool.Policy.CountByHolder)
	for _, i := range holders {
		units.add(sessions[i].Holder)
	}
	var noticed []int
	if lim := d.pool.SessionLimit; lim != nil && units.count() > int(*lim) {
		holders, noticed = d.reduce(sessions, holders, int(*lim))
		units = newUnits(d.pool.Policy.CountByHolder)
		for _, i := range holders {
			units.add(sessions[i].Holder)
		}
		for _, i := range noticed {
			// Still in use, so nothing new is granted beyond the limit; but no new session of
			// that holder shares a licence that is going away.
			units.addNoticed(sessions[i].Holder)
		}
	}
	for _, i := range holders {
		d.activate(i, sessions[i])
	}
	for _, i := range noticed {
		d.activate(i, sessions[i])
		d.notice(i, sessions[i])
	}
	return units
}

// notice keeps an Active session over the limit until its notice (reduce set its EndsAt)
// runs out.
func (d *decision) notice(i int, s Session) {
	r := &d.res.Sessions[i]
	d.wake(*r.EndsAt)
	r.Message = fmt.Sprintf("pool %s's shared licences were reduced to %s: %s keeps this one until %s, then the session ends unless a licence frees first",
		d.pool.Name, limitString(d.pool.SessionLimit), s.Holder, r.EndsAt.UTC().Format(time.RFC3339))
}

// serveQueue grants free licences to the waiters by priority, then age, then name (with
// countBy Holder, a holder's further sessions share its licence), and returns those left
// waiting, in order.
func (d *decision) serveQueue(sessions []Session, waiters []int, units *units) []int {
	slices.SortFunc(waiters, func(a, b int) int {
		if c := cmp.Compare(sessions[b].Priority, sessions[a].Priority); c != 0 {
			return c
		}
		return byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	})
	queue := waiters[:0:0]
	for _, i := range waiters {
		s := sessions[i]
		if units.covers(s.Holder) || d.pool.SessionLimit == nil || units.count() < int(*d.pool.SessionLimit) {
			units.add(s.Holder)
			d.res.Sessions[i].GrantedAt = timePtr(d.now)
			if !d.endOnLimits(i, s) {
				d.activate(i, s)
			}
			continue
		}
		queue = append(queue, i)
	}
	return queue
}

// placeQueue gives the sessions left waiting their positions, or turns them away when the
// pool rejects sessions it cannot serve.
func (d *decision) placeQueue(queue []int) {
	for pos, i := range queue {
		if d.pool.Policy.Reject {
			d.end(i, v1alpha1.EndRejected, fmt.Sprintf("all %s shared licences of pool %s are in use and the pool turns sessions away when full (whenExhausted: Reject)",
				limitString(d.pool.SessionLimit), d.pool.Name))
			continue
		}
		r := &d.res.Sessions[i]
		r.Phase, r.QueuePosition, r.GrantedAt = v1alpha1.SessionWaiting, int32(pos+1), nil
		r.Message = d.waitingMessage(pos+1, len(queue))
	}
}

// countSessions fills in the usage and the session ledger.
func (d *decision) countSessions(sessions []Session, units *units) {
	var names []string
	for i, r := range d.res.Sessions {
		switch r.Phase {
		case v1alpha1.SessionActive:
			names = append(names, sessions[i].Name)
			if sessions[i].State == v1alpha1.SessionIdle {
				d.res.Usage.SessionsIdle++
			}
		case v1alpha1.SessionWaiting:
			d.res.Usage.Waiting++
		}
	}
	d.res.Usage.SessionsActive = int32(units.count())
	if d.external() {
		d.res.SessionLedger = d.pool.SessionLedger
		d.res.Usage.SessionsActive = int32(len(names))
	} else if d.pool.SessionLimit != nil {
		d.res.SessionLedger = sortedNames(names)
	}
}

func (d *decision) waitingMessage(pos, of int) string {
	if lim := d.pool.SessionLimit; lim != nil && *lim == 0 {
		return fmt.Sprintf("pool %s has no shared licences (concurrentSessions: 0); waiting at position %d of %d", d.pool.Name, pos, of)
	}
	return fmt.Sprintf("all %s shared licences of pool %s are in use; waiting at position %d of %d",
		limitString(d.pool.SessionLimit), d.pool.Name, pos, of)
}

// endOnLimits ends a holder past its idle or duration limit, and otherwise records those
// deadlines. It reports whether the session ended.
func (d *decision) endOnLimits(i int, s Session) bool {
	pol := d.pool.Policy
	r := &d.res.Sessions[i]
	if pol.MaxDuration > 0 {
		deadline := r.GrantedAt.Add(pol.MaxDuration)
		if !d.now.Before(deadline) {
			d.end(i, v1alpha1.EndMaxDurationExceeded, fmt.Sprintf("active longer than the pool's maxDuration of %s", pol.MaxDuration))
			return true
		}
		d.wake(deadline)
	}
	if pol.IdleTimeout > 0 && s.State == v1alpha1.SessionIdle {
		since := *r.StateChangedAt
		if r.GrantedAt.After(since) {
			since = *r.GrantedAt
		}
		deadline := since.Add(pol.IdleTimeout)
		if !d.now.Before(deadline) {
			d.end(i, v1alpha1.EndIdleTimeout, fmt.Sprintf("idle longer than the pool's idleTimeout of %s", pol.IdleTimeout))
			return true
		}
		d.wake(deadline)
	}
	return false
}

// reduce takes back the licences of the most recently granted holders until the rest fit the
// limit. Those over it end at once, or, with a grace period, are returned as noticed until
// their notice runs out. It returns the holders that fit, and those under notice.
func (d *decision) reduce(sessions []Session, holders []int, limit int) (kept, noticed []int) {
	r := d.res.Sessions
	newestFirst := func(a, b int) int {
		if c := r[b].GrantedAt.Compare(*r[a].GrantedAt); c != 0 {
			return c
		}
		return -byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	}
	// Group by licence unit (the session, or its holder with CountByHolder); a group is as
	// new as its earliest grant.
	groups := map[string][]int{}
	var keys []string
	for _, i := range holders {
		k := sessions[i].Name
		if d.pool.Policy.CountByHolder {
			k = sessions[i].Holder
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	oldest := func(k string) int { return slices.MinFunc(groups[k], func(a, b int) int { return -newestFirst(a, b) }) }
	slices.SortFunc(keys, func(a, b string) int { return newestFirst(oldest(a), oldest(b)) })
	msg := fmt.Sprintf("pool %s's shared licences were reduced to %d; the most recently granted sessions were ended", d.pool.Name, limit)
	for _, k := range keys[:len(keys)-limit] {
		// A licence unit is noticed, and ends, as one: at the earliest notice any of its
		// sessions was given, or now plus the grace period.
		var endsAt *time.Time
		for _, i := range groups[k] {
			if e := sessions[i].EndsAt; e != nil && (endsAt == nil || e.Before(*endsAt)) {
				endsAt = e
			}
		}
		if endsAt == nil {
			endsAt = timePtr(d.now.Add(d.pool.Policy.CapacityGrace))
		}
		for _, i := range groups[k] {
			if d.pool.Policy.CapacityGrace > 0 && d.now.Before(*endsAt) {
				d.res.Sessions[i].EndsAt = endsAt
				noticed = append(noticed, i)
				continue
			}
			d.end(i, v1alpha1.EndCapacityReduced, msg)
		}
	}
	for _, k := range keys[len(keys)-limit:] {
		kept = append(kept, groups[k]...)
	}
	return kept, noticed
}

func (d *decision) activate(i int, s Session) {
	r := &d.res.Sessions[i]
	r.Phase, r.QueuePosition, r.EndReason = v1alpha1.SessionActive, 0, ""
	r.Message = fmt.Sprintf("%s holds a shared licence of pool %s", s.Holder, d.pool.Name)
}

func (d *decision) end(i int, reason v1alpha1.EndReason, msg string) {
	r := &d.res.Sessions[i]
	r.Phase, r.QueuePosition, r.EndReason, r.Message = v1alpha1.SessionEnded, 0, reason, msg
	r.EndedAt = timePtr(d.now)
	d.wake(d.now.Add(d.pool.Policy.RetainEnded))
}

// retain keeps an Ended session as the record until RetainEnded after it ended.
func (d *decision) retain(r SessionResult) SessionResult {
	if r.EndedAt == nil {
		r.EndedAt = timePtr(d.now)
	}
	deadline := r.EndedAt.Add(d.pool.Policy.RetainEnded)
	if !d.now.Before(deadline) {
		r.Delete = true
		return r
	}
	d.wake(deadline)
	return r
}

// units counts licences in use: one per session, or one per holder. Licences under notice
// count, but cover no further session of their holder.
type units struct {
	byHolder bool
	n        int
	holders  map[string]bool
	noticed  map[string]bool
}

func newUnits(byHolder bool) *units { return &units{byHolder: byHolder, holders: map[string]bool{}} }

func (u *units) add(holder string) {
	if u.byHolder {
		u.holders[holder] = true
		return
	}
	u.n++
}

// addNoticed counts a licence under notice.
func (u *units) addNoticed(holder string) {
	if u.byHolder {
		if u.noticed == nil {
			u.noticed = map[string]bool{}
		}
		u.noticed[holder] = true
		return
	}
	u.n++
}

func (u *units) covers(holder string) bool { return u.byHolder && u.holders[holder] }

func (u *units) count() int {
	if u.byHolder {
		return len(u.holders) + len(u.noticed)
	}
	return u.n
}
