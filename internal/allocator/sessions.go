package allocator

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// decideSessions grants shared licences. A session takes Count of them, all or none. It first
// meets its deadlines (terminate, heartbeat, pool expiry, seat requirement, idle and duration
// limits); holders that remain keep their licences unless the limit dropped, in which case the
// most recently granted end (CapacityReduced) until the rest fit; the queue is then served by
// priority, creation time and name (see serveQueue for a head that does not fit yet), and what
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
			held = recordsAll(ledger, s)
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
		units.add(sessions[i].Holder, sessions[i].licences())
	}
	var noticed []int
	if lim := d.pool.SessionLimit; lim != nil && units.count() > int(*lim) {
		holders, noticed = d.reduce(sessions, holders, int(*lim))
		units = newUnits(d.pool.Policy.CountByHolder)
		for _, i := range holders {
			units.add(sessions[i].Holder, sessions[i].licences())
		}
		for _, i := range noticed {
			// Still in use, so nothing new is granted beyond the limit; but no new session of
			// that holder shares a licence that is going away.
			units.addNoticed(sessions[i].Holder, sessions[i].licences())
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
	what := "this one"
	if n := s.licences(); n > 1 {
		what = fmt.Sprintf("these %d", n)
	}
	r.Message = fmt.Sprintf("pool %s's shared licences were reduced to %s: %s keeps %s until %s, then the session ends unless licences free first",
		d.pool.Name, limitString(d.pool.SessionLimit), s.Holder, what, r.EndsAt.UTC().Format(time.RFC3339))
}

// serveQueue grants free licences to the waiters by priority, then age, then name (with
// countBy Holder, a holder's further sessions share its licences), and returns those left
// waiting, in order.
//
// A session is granted only when all its licences are free at once. The queue keeps its
// order: the first session that does not fit yet (the head) keeps what is free, and what frees
// later, until it fits, so nobody behind it is granted meanwhile and it cannot starve (only a
// session of higher priority that arrives goes ahead of it, as it would of anyone). A session
// that needs no further licence (countBy Holder, its holder already holds as many) takes none
// from the head and is granted. A session that asks for more than the whole limit can never
// fit: it holds nothing back and waits aside (tooLarge) until the limit grows. With
// whenExhausted Reject nobody waits, so nobody keeps licences for later: whoever fits now is
// granted, the rest are turned away.
func (d *decision) serveQueue(sessions []Session, waiters []int, units *units) []waiter {
	slices.SortFunc(waiters, func(a, b int) int {
		if c := cmp.Compare(sessions[b].Priority, sessions[a].Priority); c != 0 {
			return c
		}
		return byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	})
	lim := d.pool.SessionLimit
	var queue []waiter
	headWaits := false // a session that can fit waits at the head, keeping what is free
	for _, i := range waiters {
		s := sessions[i]
		need := units.extra(s.Holder, s.licences())
		fits := lim == nil || units.count()+need <= int(*lim)
		if need == 0 || (!headWaits && fits) {
			units.add(s.Holder, s.licences())
			d.res.Sessions[i].GrantedAt = timePtr(d.now)
			if !d.endOnLimits(i, s) {
				d.activate(i, s)
			}
			continue
		}
		w := waiter{i: i, need: s.licences(), tooLarge: lim != nil && s.licences() > int(*lim), behindHead: headWaits}
		if lim != nil {
			w.free = max(0, int(*lim)-units.count())
		}
		if !w.tooLarge && !d.pool.Policy.Reject {
			headWaits = true
		}
		queue = append(queue, w)
	}
	return queue
}

// waiter is a session left in the queue, with what its message says.
type waiter struct {
	i    int
	need int // licences it asks for
	free int // licences free when its turn came
	// tooLarge: it asks for more than the limit, and holds nothing back; behindHead: a session
	// ahead of it in the queue keeps the free licences until its own fit.
	tooLarge, behindHead bool
}

// placeQueue gives the sessions left waiting their positions, or turns them away when the
// pool rejects sessions it cannot serve.
func (d *decision) placeQueue(queue []waiter) {
	for pos, w := range queue {
		if d.pool.Policy.Reject {
			d.end(w.i, v1alpha1.EndRejected, d.rejectedMessage(w))
			continue
		}
		r := &d.res.Sessions[w.i]
		r.Phase, r.QueuePosition, r.GrantedAt = v1alpha1.SessionWaiting, int32(pos+1), nil
		r.Message = d.waitingMessage(w, pos+1, len(queue))
	}
}

// countSessions fills in the usage and the session ledger.
func (d *decision) countSessions(sessions []Session, units *units) {
	var names []string
	for i, r := range d.res.Sessions {
		s := sessions[i]
		switch r.Phase {
		case v1alpha1.SessionActive:
			names = append(names, v1alpha1.LedgerEntries(s.Name, int32(s.licences()))...)
			if s.State == v1alpha1.SessionIdle {
				d.res.Usage.SessionsIdle += int32(s.licences())
			}
		case v1alpha1.SessionWaiting:
			d.res.Usage.Waiting++
			d.res.Usage.WaitingLicences += int32(s.licences())
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

// rejectedMessage says why a pool that turns sessions away when full turned this one away.
func (d *decision) rejectedMessage(w waiter) string {
	p, lim := d.pool.Name, limitString(d.pool.SessionLimit)
	switch {
	case w.tooLarge:
		return fmt.Sprintf("asked for %s but pool %s has only %s in all, and the pool turns away sessions it cannot serve (whenExhausted: Reject)",
			licences(w.need), p, lim)
	case w.need > 1:
		return fmt.Sprintf("asked for %s of pool %s, all at once; %d of %s free, and the pool turns sessions away when full (whenExhausted: Reject)",
			licences(w.need), p, w.free, lim)
	}
	return fmt.Sprintf("all %s shared licences of pool %s are in use and the pool turns sessions away when full (whenExhausted: Reject)", lim, p)
}

// waitingMessage says why a session waits and where.
func (d *decision) waitingMessage(w waiter, pos, of int) string {
	p, lim := d.pool.Name, limitString(d.pool.SessionLimit)
	switch {
	case d.pool.SessionLimit != nil && *d.pool.SessionLimit == 0:
		return fmt.Sprintf("pool %s has no shared licences (concurrentSessions: 0); waiting at position %d of %d", p, pos, of)
	case w.tooLarge:
		return fmt.Sprintf("asks for %s but pool %s has only %s in all; waiting at position %d of %d without holding up the queue, until the pool's limit grows",
			licences(w.need), p, lim, pos, of)
	case w.need == 1 && w.free == 0:
		return fmt.Sprintf("all %s shared licences of pool %s are in use; waiting at position %d of %d", lim, p, pos, of)
	case w.behindHead && w.free > 0:
		return fmt.Sprintf("waiting for %s of pool %s; %d free, kept for the session at the head of the queue until it fits; waiting at position %d of %d",
			licences(w.need), p, w.free, pos, of)
	}
	return fmt.Sprintf("waiting for %s of pool %s; %d free of %s; waiting at position %d of %d", licences(w.need), p, w.free, lim, pos, of)
}

// licences is "1 shared licence" or "n shared licences".
func licences(n int) string {
	if n == 1 {
		return "1 shared licence"
	}
	return fmt.Sprintf("%d shared licences", n)
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
	// A unit uses as many licences as its largest session (one session, unless CountByHolder).
	uses := func(k string) int {
		n := 0
		for _, i := range groups[k] {
			n = max(n, sessions[i].licences())
		}
		return n
	}
	inUse := 0
	for _, k := range keys {
		inUse += uses(k)
	}
	over := 0 // the newest units to take back until the rest fit
	for ; inUse > limit; over++ {
		inUse -= uses(keys[over])
	}
	msg := fmt.Sprintf("pool %s's shared licences were reduced to %d; the most recently granted sessions were ended", d.pool.Name, limit)
	for _, k := range keys[:over] {
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
	for _, k := range keys[over:] {
		kept = append(kept, groups[k]...)
	}
	return kept, noticed
}

func (d *decision) activate(i int, s Session) {
	r := &d.res.Sessions[i]
	r.Phase, r.QueuePosition, r.EndReason = v1alpha1.SessionActive, 0, ""
	r.Message = fmt.Sprintf("%s holds a shared licence of pool %s", s.Holder, d.pool.Name)
	if n := s.licences(); n > 1 {
		r.Message = fmt.Sprintf("%s holds %d shared licences of pool %s", s.Holder, n, d.pool.Name)
	}
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

// licences is how many licences the session takes.
func (s Session) licences() int { return max(1, int(s.Count)) }

// recordsAll reports whether the ledger records every licence of the session.
func recordsAll(ledger map[string]bool, s Session) bool {
	for _, e := range v1alpha1.LedgerEntries(s.Name, int32(s.licences())) {
		if !ledger[e] {
			return false
		}
	}
	return true
}

// units counts licences in use: each session's count, or, with countBy Holder, for each holder
// the largest count among its sessions. Licences under notice count, but cover no further
// session of their holder.
type units struct {
	byHolder bool
	n        int            // licences in use
	holders  map[string]int // with byHolder, the licences each holder uses
	noticed  map[string]int // with byHolder, the licences under notice of each holder
}

func newUnits(byHolder bool) *units { return &units{byHolder: byHolder, holders: map[string]int{}} }

// add counts a session of the holder that takes n licences.
func (u *units) add(holder string, n int) {
	if u.byHolder {
		if old := u.holders[holder]; n > old {
			u.holders[holder], u.n = n, u.n+n-old
		}
		return
	}
	u.n += n
}

// addNoticed counts a licence under notice.
func (u *units) addNoticed(holder string, n int) {
	if u.byHolder {
		if u.noticed == nil {
			u.noticed = map[string]int{}
		}
		if old := u.noticed[holder]; n > old {
			u.noticed[holder], u.n = n, u.n+n-old
		}
		return
	}
	u.n += n
}

// extra is how many more licences a session of the holder that takes n needs.
func (u *units) extra(holder string, n int) int {
	if u.byHolder {
		return max(0, n-u.holders[holder])
	}
	return n
}

func (u *units) count() int { return u.n }
