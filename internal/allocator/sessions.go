package allocator

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// decideSessions grants shared licences. A session takes Count of them, all or none. It first
// meets its deadlines (terminate, heartbeat, pool expiry, seat requirement, idle and duration
// limits) and those of earlier preemptions; holders that remain keep their licences unless a
// limit or a cap dropped below what they use, in which case the most recently granted end
// (CapacityReduced) until the rest fit; the queue is then served by priority, creation time and
// name within the pool's rules (see serveQueue), sessions of higher priority that still do not
// fit may preempt (see preempt), and what is left of the queue waits in order (or is turned
// away); last, the licences in use are counted.
func (d *decision) decideSessions(sessions []Session, seated map[string]bool) {
	d.res.Sessions = make([]SessionResult, len(sessions))
	d.res.Usage.SessionLimit = d.pool.SessionLimit
	holders, waiters := d.meetDeadlines(sessions, seated)
	holders, preempted := d.meetPreemptions(sessions, holders, waiters)
	units := d.keepHolders(sessions, holders, preempted)
	queue := d.serveQueue(sessions, waiters, units)
	if d.preempt(sessions, queue, units) {
		// Sessions preempted without a grace period freed their licences at once.
		queue = d.serveQueue(sessions, waitersOf(queue), units)
	}
	d.withdrawPreemptions(sessions, queue)
	d.placeQueue(sessions, queue, units)
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

// keepHolders lets the holders keep their licences. When they use more than a rule allows (the
// limit with the overdraft, the common licences the reservations leave, a group's or a
// holder's cap), the most recently granted are over it: they end at once, or with a grace
// period get a notice and keep their licence until it runs out. The preempted, under a notice
// already, keep theirs until theirs runs out, unless a rule takes it back first. It returns
// the licences in use.
func (d *decision) keepHolders(sessions []Session, holders, preempted []int) *units {
	byHolder := d.pool.Policy.CountByHolder
	u := newUnits(d.rules, byHolder)
	all := append(slices.Clone(holders), preempted...)
	for _, i := range all {
		u.add(sessions[i].Holder, sessions[i].licences())
	}
	keys, groups := d.licenceUnits(sessions, all)
	underNotice := map[int]bool{}
	for _, i := range preempted {
		underNotice[i] = true
	}
	over := map[string]string{} // licence unit → what took it back
	for _, rule := range d.limitRules(u) {
		for _, k := range keys {
			if !rule.over(u) {
				break
			}
			holder := sessions[groups[k][0]].Holder
			if _, taken := over[k]; taken || !rule.helps(u, holder) {
				continue
			}
			over[k] = rule.what
			n := 0
			for _, i := range groups[k] {
				n = max(n, sessions[i].licences())
				if !byHolder {
					u.remove(holder, sessions[i].licences())
				}
			}
			if byHolder {
				u.remove(holder, n)
			}
		}
	}
	kept := newUnits(d.rules, byHolder)
	for _, k := range keys {
		if what, ok := over[k]; ok {
			d.takeBack(sessions, groups[k], what, kept)
			continue
		}
		for _, i := range groups[k] {
			d.activate(i, sessions[i])
			if !underNotice[i] {
				kept.add(sessions[i].Holder, sessions[i].licences())
				continue
			}
			kept.addNoticed(sessions[i].Holder, sessions[i].licences())
			d.res.Sessions[i].EndsAt, d.res.Sessions[i].PreemptedBy = sessions[i].EndsAt, sessions[i].PreemptedBy
			d.wake(*sessions[i].EndsAt)
		}
	}
	return kept
}

// licenceUnits groups the holders by licence unit (the session, or its holder with countBy
// Holder), and orders the units most recently granted first; a unit is as new as its earliest
// grant.
func (d *decision) licenceUnits(sessions []Session, holders []int) (keys []string, groups map[string][]int) {
	r := d.res.Sessions
	newestFirst := func(a, b int) int {
		if c := r[b].GrantedAt.Compare(*r[a].GrantedAt); c != 0 {
			return c
		}
		return -byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	}
	groups = map[string][]int{}
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
	return keys, groups
}

// limitRule is one bound on the licences the holders keep: over says whether it is broken,
// helps whether taking back a holder's licences mends it, and what says what it is, for the
// sessions it takes licences back from.
type limitRule struct {
	over  func(u *units) bool
	helps func(u *units, holder string) bool
	what  string
}

// limitRules are the bounds the holders' licences must fit, in the order they are enforced:
// the limit with the overdraft, the common licences the reservations leave, each group's cap,
// and the cap per holder.
func (d *decision) limitRules(u *units) []limitRule {
	r, p := d.rules, d.pool.Name
	any := func(*units, string) bool { return true }
	var rules []limitRule
	if r.limit >= 0 {
		what := fmt.Sprintf("pool %s's shared licences were reduced to %d", p, *d.pool.SessionLimit)
		if d.pool.Policy.Overdraft > 0 {
			what = fmt.Sprintf("pool %s's shared licences were reduced to %d (with %d of overdraft)", p, *d.pool.SessionLimit, d.pool.Policy.Overdraft)
		}
		rules = append(rules, limitRule{over: func(u *units) bool { return u.total() > r.limit }, helps: any, what: what})
		if reserved := r.totalReserved(); reserved > 0 {
			rules = append(rules, limitRule{
				over: func(u *units) bool { return u.commonUsed() > r.common() },
				helps: func(u *units, holder string) bool {
					g := r.groupOf(holder)
					return g < 0 || u.group[g] > r.reserved[g]
				},
				what: fmt.Sprintf("%d of pool %s's shared licences are now reserved for groups, leaving %d for everyone", reserved, p, r.common()),
			})
		}
	}
	for g, grp := range r.groups {
		if grp.MaxSessions == nil {
			continue
		}
		limit := int(*grp.MaxSessions)
		rules = append(rules, limitRule{
			over:  func(u *units) bool { return u.group[g] > limit },
			helps: func(_ *units, holder string) bool { return r.groupOf(holder) == g },
			what:  fmt.Sprintf("group %s may now use at most %s of pool %s (maxSessions)", grp.Name, licences(limit), p),
		})
	}
	if r.perHolder > 0 {
		var overCap []string
		for h, n := range u.use {
			if n > r.perHolder {
				overCap = append(overCap, h)
			}
		}
		slices.Sort(overCap)
		for _, h := range overCap {
			rules = append(rules, limitRule{
				over:  func(u *units) bool { return u.use[h] > r.perHolder },
				helps: func(_ *units, holder string) bool { return holder == h },
				what:  fmt.Sprintf("a holder may now use at most %s of pool %s at once (maxPerHolder)", licences(r.perHolder), p),
			})
		}
	}
	return rules
}

// takeBack ends the sessions of a licence unit a rule took licences back from, or, with a grace
// period, gives them a notice: the unit ends as one, at the earliest notice any of its sessions
// was given, or now plus the grace period.
func (d *decision) takeBack(sessions []Session, unit []int, what string, kept *units) {
	var endsAt *time.Time
	for _, i := range unit {
		if e := sessions[i].EndsAt; e != nil && sessions[i].PreemptedBy == "" && (endsAt == nil || e.Before(*endsAt)) {
			endsAt = e
		}
	}
	if endsAt == nil {
		endsAt = timePtr(d.now.Add(d.pool.Policy.CapacityGrace))
	}
	for _, i := range unit {
		if d.pool.Policy.CapacityGrace > 0 && d.now.Before(*endsAt) {
			// Still in use, so nothing new is granted beyond the limit; but no new session of
			// that holder shares a licence that is going away.
			kept.addNoticed(sessions[i].Holder, sessions[i].licences())
			d.activate(i, sessions[i])
			d.res.Sessions[i].EndsAt = endsAt
			d.notice(i, sessions[i], what)
			if e := sessions[i].EndsAt; e != nil && e.Equal(*endsAt) && sessions[i].PreemptedBy == "" && sessions[i].Message != "" {
				// Under this notice already: it keeps the words it was given, though another
				// rule may be what keeps it over now.
				d.res.Sessions[i].Message = sessions[i].Message
			}
			continue
		}
		d.end(i, v1alpha1.EndCapacityReduced, what+"; the most recently granted sessions were ended")
	}
}

// notice keeps an Active session over a limit until its notice (takeBack set its EndsAt) runs
// out.
func (d *decision) notice(i int, s Session, what string) {
	r := &d.res.Sessions[i]
	d.wake(*r.EndsAt)
	r.Message = fmt.Sprintf("%s: %s keeps %s until %s, then the session ends unless licences free first",
		what, s.Holder, these(s), r.EndsAt.UTC().Format(time.RFC3339))
}

// these is "this one" or "these n".
func these(s Session) string {
	if n := s.licences(); n > 1 {
		return fmt.Sprintf("these %d", n)
	}
	return "this one"
}

// serveQueue grants free licences to the waiters by priority, then age, then name (with
// countBy Holder, a holder's further sessions share its licences), and returns those left
// waiting, in order.
//
// A session is granted only when all its licences are free at once, within the pool's rules:
// the limit and the overdraft, its group's reservation first and then the common licences,
// its group's cap and the cap per holder. The queue keeps its order: the first session that
// does not fit yet (a head) keeps what is free, and what frees later, until it fits: of the
// common licences, and of its group's reservation. Nobody behind it is granted from those
// meanwhile, so it cannot starve (only a session of higher priority that arrives goes ahead of
// it, as it would of anyone). A session of a group may still be granted from its reservation
// while a head that is not a member waits for the common licences. A session that needs no
// further licence (countBy Holder, its holder already holds as many) takes none and is
// granted. A session held back by a cap, or that asks for more than it may ever hold, holds
// nothing back and waits aside. With whenExhausted Reject nobody waits, so nobody keeps
// licences for later: whoever fits now is granted, the rest are turned away.
func (d *decision) serveQueue(sessions []Session, waiters []int, u *units) []waiter {
	slices.SortFunc(waiters, func(a, b int) int {
		if c := cmp.Compare(sessions[b].Priority, sessions[a].Priority); c != 0 {
			return c
		}
		return byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	})
	var queue []waiter
	keptCommon, keptReserve := false, map[int]bool{} // licences a head keeps until it fits
	for _, i := range waiters {
		s := sessions[i]
		delta := u.extra(s.Holder, s.licences())
		if delta == 0 {
			d.grant(i, s, u)
			continue
		}
		b := u.check(s.Holder, s.licences(), delta)
		g := d.rules.groupOf(s.Holder)
		reserved, common := u.split(s.Holder, delta)
		behind := (reserved > 0 && keptReserve[g]) || (common > 0 && keptCommon)
		if b == fits && !behind {
			d.grant(i, s, u)
			continue
		}
		w := waiter{i: i, need: s.licences(), free: u.room(s.Holder), block: b, behindHead: behind}
		if (b == fits || b == full || b == reservedUp) && !d.pool.Policy.Reject {
			keptCommon = true
			if g >= 0 && d.rules.reserved[g] > 0 {
				keptReserve[g] = true
			}
		}
		if b == holderCap || b == groupCap {
			w.capped = u.capMessage(b, s.Holder, d.pool.Name)
		}
		queue = append(queue, w)
	}
	return queue
}

// grant gives a waiting session its licences.
func (d *decision) grant(i int, s Session, u *units) {
	u.add(s.Holder, s.licences())
	d.res.Sessions[i].GrantedAt = timePtr(d.now)
	if !d.endOnLimits(i, s) {
		d.activate(i, s)
	}
}

// waiter is a session left in the queue, with what its message says.
type waiter struct {
	i    int
	need int // licences it asks for
	free int // licences it could take when its turn came
	// block is why it waits; behindHead: it would fit, but a session ahead of it keeps the
	// free licences until its own fit; capped names the cap that holds it back.
	block      block
	behindHead bool
	capped     string
}

func waitersOf(queue []waiter) []int {
	out := make([]int, len(queue))
	for k, w := range queue {
		out[k] = w.i
	}
	return out
}

// placeQueue gives the sessions left waiting their positions, or turns them away when the
// pool rejects sessions it cannot serve.
func (d *decision) placeQueue(sessions []Session, queue []waiter, u *units) {
	coming := d.preemptionsFor(sessions)
	for pos, w := range queue {
		if d.pool.Policy.Reject {
			d.end(w.i, v1alpha1.EndRejected, d.rejectedMessage(w, sessions[w.i], u))
			continue
		}
		// Said of the pool as the decision leaves it, so that the same pool says the same.
		s := sessions[w.i]
		w.block, w.free, w.capped = u.check(s.Holder, s.licences(), u.extra(s.Holder, s.licences())), u.room(s.Holder), ""
		w.behindHead = w.block == fits
		if w.block == holderCap || w.block == groupCap {
			w.capped = u.capMessage(w.block, s.Holder, d.pool.Name)
		}
		r := &d.res.Sessions[w.i]
		r.Phase, r.QueuePosition, r.GrantedAt = v1alpha1.SessionWaiting, int32(pos+1), nil
		r.Message = d.waitingMessage(w, sessions[w.i], u, pos+1, len(queue))
		if c, ok := coming[sessions[w.i].Name]; ok {
			r.Message = fmt.Sprintf("%s gives back its licences to this session at %s (preemption: priority %d over %d); waiting at position %d of %d",
				strings.Join(c.victims, ", "), c.at.UTC().Format(time.RFC3339), sessions[w.i].Priority, c.priority, pos+1, len(queue))
		}
	}
}

// countSessions fills in the usage, the overdraft marks and the session ledger.
func (d *decision) countSessions(sessions []Session, units *units) {
	var names []string
	waitingIn := make([]int32, len(d.rules.groups))
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
			if g := d.rules.groupOf(s.Holder); g >= 0 {
				waitingIn[g]++
			}
		}
	}
	d.res.Usage.SessionsActive = int32(units.total())
	if d.external() {
		d.res.SessionLedger = d.pool.SessionLedger
		d.res.Usage.SessionsActive = int32(len(names))
	} else if d.pool.SessionLimit != nil {
		d.res.SessionLedger = sortedNames(names)
		d.markOverdraft(sessions)
	}
	d.res.Usage.Reserved = int32(d.rules.totalReserved())
	d.res.ReservationsFit = d.rules.fit
	if !d.rules.fit {
		d.res.ReservationsMessage = fmt.Sprintf("the groups reserve more shared licences than pool %s's limit of %d: reservations are honoured in the groups' order until the limit",
			d.pool.Name, *d.pool.SessionLimit)
	}
	for g, grp := range d.rules.groups {
		d.res.Usage.Groups = append(d.res.Usage.Groups, GroupUsage{Name: grp.Name, Reserved: int32(d.rules.reserved[g]),
			MaxSessions: grp.MaxSessions, SessionsActive: int32(units.group[g]), SessionsWaiting: waitingIn[g],
			MaxSeats: grp.MaxSeats, SeatsBound: int32(d.seatsInGroup[g])})
	}
}

// markOverdraft marks the Active sessions whose licences lie beyond the limit: counted oldest
// grant first, the licences past the limit are the overdraft, so the most recently granted
// carry it and a licence that frees covers the oldest of them again. Licences under a notice
// of reduced capacity are not overdraft: they are on their way back.
func (d *decision) markOverdraft(sessions []Session) {
	limit := int(*d.pool.SessionLimit)
	d.res.Usage.Overdraft = int32(d.pool.Policy.Overdraft)
	if int(d.res.Usage.SessionsActive) <= limit {
		return // nothing beyond the limit: no pass within it sorts its holders
	}
	r := d.res.Sessions
	var active []int
	for i, x := range r {
		if x.Phase == v1alpha1.SessionActive && (x.EndsAt == nil || x.PreemptedBy != "") {
			active = append(active, i)
		}
	}
	slices.SortFunc(active, func(a, b int) int {
		if c := r[a].GrantedAt.Compare(*r[b].GrantedAt); c != 0 {
			return c
		}
		return byAge(sessions[a].Created, sessions[b].Created, sessions[a].Name, sessions[b].Name)
	})
	u := newUnits(d.rules, d.pool.Policy.CountByHolder)
	for _, i := range active {
		before := u.total()
		u.add(sessions[i].Holder, sessions[i].licences())
		if u.total() > limit && u.total() > before {
			r[i].Overdraft = true
			if r[i].EndsAt == nil {
				r[i].Message += fmt.Sprintf(", beyond its limit of %d (overdraft)", limit)
			}
		}
	}
	d.res.Usage.SessionsOverdraft = int32(max(0, u.total()-limit))
}

// rejectedMessage says why a pool that turns sessions away when full turned this one away.
func (d *decision) rejectedMessage(w waiter, s Session, u *units) string {
	p, lim := d.pool.Name, limitString(d.pool.SessionLimit)
	const turnedAway = "and the pool turns away sessions it cannot serve (whenExhausted: Reject)"
	switch {
	case w.capped != "":
		return fmt.Sprintf("asked for %s: %s, %s", licences(w.need), w.capped, turnedAway)
	case w.block == neverFits:
		return fmt.Sprintf("asked for %s but %s, %s", licences(w.need), d.mostFor(s, u), turnedAway)
	case w.block == reservedUp:
		return fmt.Sprintf("asked for %s of pool %s; the free ones are reserved for groups %s is not in (%d reserved), %s",
			licences(w.need), p, s.Holder, d.rules.totalReserved(), turnedAway)
	case w.need > 1:
		return fmt.Sprintf("asked for %s of pool %s, all at once; %d of %s free, and the pool turns sessions away when full (whenExhausted: Reject)",
			licences(w.need), p, w.free, d.ofAll())
	}
	return fmt.Sprintf("%s and the pool turns sessions away when full (whenExhausted: Reject)", allInUse(lim, p, ""))
}

// mostFor says the most licences a session's holder may ever hold, and which rule says so.
func (d *decision) mostFor(s Session, u *units) string {
	r, p := d.rules, d.pool.Name
	g := r.groupOf(s.Holder)
	switch {
	case r.perHolder > 0 && s.licences() > r.perHolder:
		return fmt.Sprintf("%s may use at most %s of pool %s at once (maxPerHolder)", s.Holder, licences(r.perHolder), p)
	case g >= 0 && r.groups[g].MaxSessions != nil && s.licences() > int(*r.groups[g].MaxSessions):
		return fmt.Sprintf("group %s may use at most %s of pool %s (maxSessions)", r.groupName(g), licences(int(*r.groups[g].MaxSessions)), p)
	case r.totalReserved() > 0 && g < 0:
		return fmt.Sprintf("pool %s has only %d shared licences that are not reserved for groups", p, r.common())
	case r.totalReserved() > 0:
		return fmt.Sprintf("group %s may use at most %s of pool %s (its reservation and the common ones)", r.groupName(g), licences(r.mayUse(g)), p)
	case d.pool.Policy.Overdraft > 0:
		return fmt.Sprintf("pool %s has only %s in all, with %d of overdraft", p, limitString(d.pool.SessionLimit), d.pool.Policy.Overdraft)
	}
	return fmt.Sprintf("pool %s has only %s in all", p, limitString(d.pool.SessionLimit))
}

// waitingMessage says why a session waits and where.
func (d *decision) waitingMessage(w waiter, s Session, u *units, pos, of int) string {
	p, lim := d.pool.Name, limitString(d.pool.SessionLimit)
	switch {
	case d.pool.SessionLimit != nil && *d.pool.SessionLimit == 0 && d.pool.Policy.Overdraft == 0:
		return fmt.Sprintf("pool %s has no shared licences (concurrentSessions: 0); waiting at position %d of %d", p, pos, of)
	case w.capped != "":
		return fmt.Sprintf("waiting for %s: %s; waiting at position %d of %d without holding up the queue, until it uses fewer",
			licences(w.need), w.capped, pos, of)
	case w.block == neverFits && d.rules.limit >= 0 && w.need > d.rules.limit:
		return fmt.Sprintf("asks for %s but pool %s has only %s in all; waiting at position %d of %d without holding up the queue, until the pool's limit grows",
			licences(w.need), p, lim, pos, of)
	case w.block == neverFits:
		return fmt.Sprintf("asks for %s but %s; waiting at position %d of %d without holding up the queue, until that changes",
			licences(w.need), d.mostFor(s, u), pos, of)
	case w.behindHead && w.free > 0:
		return fmt.Sprintf("waiting for %s of pool %s; %d free, kept for the session at the head of the queue until it fits; waiting at position %d of %d",
			licences(w.need), p, w.free, pos, of)
	case (w.block == reservedUp || w.block == full) && d.rules.groupOf(s.Holder) < 0 && d.rules.totalReserved() > 0:
		if d.rules.common() == 1 {
			return fmt.Sprintf("the one shared licence of pool %s that is not reserved for groups is in use (%d reserved); waiting at position %d of %d",
				p, d.rules.totalReserved(), pos, of)
		}
		return fmt.Sprintf("all %d shared licences of pool %s that are not reserved for groups are in use (%d reserved); waiting at position %d of %d",
			d.rules.common(), p, d.rules.totalReserved(), pos, of)
	case w.block == reservedUp:
		g := d.rules.groupOf(s.Holder)
		return fmt.Sprintf("waiting for %s of pool %s; group %s's reservation (%d) and the common licences are in use, the rest are reserved for other groups; waiting at position %d of %d",
			licences(w.need), p, d.rules.groupName(g), d.rules.reserved[g], pos, of)
	case w.need == 1 && w.free == 0 && d.pool.Policy.Overdraft > 0:
		return fmt.Sprintf("%s; waiting at position %d of %d", allInUse(lim, p, fmt.Sprintf(" and its %d of overdraft", d.pool.Policy.Overdraft)), pos, of)
	case w.need == 1 && w.free == 0:
		if d.allInUse == "" {
			d.allInUse = allInUse(lim, p, "")
		}
		return fmt.Sprintf("%s; waiting at position %d of %d", d.allInUse, pos, of)
	}
	return fmt.Sprintf("waiting for %s of pool %s; %d free of %s; waiting at position %d of %d", licences(w.need), p, w.free, d.ofAll(), pos, of)
}

// ofAll is the licences the pool may grant, for "n free of …": its limit, with its overdraft
// when it allows one ("2 (with 2 of overdraft)").
func (d *decision) ofAll() string {
	if lim := limitString(d.pool.SessionLimit); d.pool.SessionLimit != nil && d.pool.Policy.Overdraft > 0 {
		return fmt.Sprintf("%s (with %d of overdraft)", lim, d.pool.Policy.Overdraft)
	}
	return limitString(d.pool.SessionLimit)
}

// allInUse says that every shared licence of the pool (with what follows them, e.g. the
// overdraft) is in use: "all 10 shared licences of pool p are in use", or, of a pool of one,
// "the one shared licence of pool p is in use".
func allInUse(limit, pool, and string) string {
	if limit == "1" {
		verb := "is"
		if and != "" {
			verb = "are"
		}
		return fmt.Sprintf("the one shared licence of pool %s%s %s in use", pool, and, verb)
	}
	return fmt.Sprintf("all %s shared licences of pool %s%s are in use", limit, pool, and)
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
