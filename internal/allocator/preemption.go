package allocator

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Preemption (Policy.Preempt): a waiting session that does not fit, and would if some Active
// sessions of lower priority gave back their licences, takes them from the most recently
// granted of those. Each gets a notice naming it (PreemptedBy, EndsAt) and ends with Preempted
// when the grace period runs out, unless the waiting session no longer waits by then (it was
// granted from licences that freed, it ended, or it was deleted): the notice is then withdrawn.
// A session is never preempted by one of the same or lower priority, nor while it is under a
// notice of any kind; a session held at a cap (its group's or its holder's) preempts nobody:
// it waits for its own to use fewer. While it waits for the notices to run out, the preempting session keeps
// the licences that free, as any head of the queue does.

// meetPreemptions ends the holders whose notice of preemption ran out, and sets aside those
// still under one; a notice for a session that no longer waits, or asks for more than it may
// ever hold (a cap or the limit lowered since), or whose priority is no longer
// higher, or in a pool that no longer preempts, is dropped (the holder is kept as any other). It returns the other holders, and those under notice.
func (d *decision) meetPreemptions(sessions []Session, holders, waiters []int) (kept, preempted []int) {
	waiting := make(map[string]int32, len(waiters)) // name → priority
	for _, i := range waiters {
		if !d.rules.neverHolds(sessions[i].Holder, sessions[i].licences()) {
			waiting[sessions[i].Name] = sessions[i].Priority
		}
	}
	for _, i := range holders {
		s := sessions[i]
		by, waits := waiting[s.PreemptedBy]
		switch {
		case s.PreemptedBy == "" || s.EndsAt == nil || !waits || by <= s.Priority || !d.pool.Policy.Preempt:
			kept = append(kept, i)
		case !d.now.Before(*s.EndsAt):
			d.end(i, v1alpha1.EndPreempted, fmt.Sprintf("session %s, of higher priority, took %s of pool %s (preemption)",
				s.PreemptedBy, theLicences(s), d.pool.Name))
		default:
			preempted = append(preempted, i)
		}
	}
	return kept, preempted
}

// theLicences is "its licence" or "its n licences".
func theLicences(s Session) string {
	if n := s.licences(); n > 1 {
		return fmt.Sprintf("its %d licences", n)
	}
	return "its licence"
}

// preempt gives notices on behalf of the waiting sessions, in queue order, that do not fit and
// would once some Active sessions of lower priority gave back their licences. It reports
// whether a session ended at once (no grace period), so that the queue is served again.
func (d *decision) preempt(sessions []Session, queue []waiter, u *units) bool {
	pol := d.pool.Policy
	if !pol.Preempt || pol.Reject || len(queue) == 0 {
		return false
	}
	for _, w := range queue {
		d.res.Sessions[w.i].Phase = v1alpha1.SessionWaiting // as placeQueue will say
	}
	keys, groups := d.preemptible(sessions)
	if len(keys) == 0 {
		return false
	}
	lowest := d.unitPriority(sessions, groups[keys[0]])
	for _, k := range keys {
		lowest = min(lowest, d.unitPriority(sessions, groups[k]))
	}
	// plan is the licences in use as they will be once the notices run out and the sessions
	// ahead in the queue have what they wait for.
	plan := u.clone()
	for i, r := range d.res.Sessions {
		if r.Phase == v1alpha1.SessionActive && r.PreemptedBy != "" {
			plan.removeNoticed(sessions[i].Holder, sessions[i].licences())
		}
	}
	taken := map[string]bool{}
	endedNow := false
	// A head that does not fit, even by preempting, keeps what frees until it fits (see
	// serveQueue): a session behind it cannot be granted those licences, so it takes none.
	keptCommon, keptReserve := false, map[int]bool{}
	behind := func(u *units, holder string, need int) bool {
		reserved, common := u.split(holder, need)
		return (reserved > 0 && keptReserve[d.rules.groupOf(holder)]) || (common > 0 && keptCommon)
	}
	for _, w := range queue {
		s := sessions[w.i]
		if w.block == neverFits || w.block == holderCap || w.block == groupCap {
			// Preemption frees the pool's licences for a session they are all taken from; one
			// held at a cap waits for its group or holder to use fewer, and holds nothing back.
			continue
		}
		need := plan.extra(s.Holder, s.licences())
		if plan.room(s.Holder) >= need {
			plan.add(s.Holder, s.licences()) // what frees, or is coming to it, is its own
			continue
		}
		keeps := func() {
			keptCommon = true
			if g := d.rules.groupOf(s.Holder); g >= 0 && d.rules.reserved[g] > 0 {
				keptReserve[g] = true
			}
		}
		if s.Priority <= lowest {
			keeps()
			continue // nobody of lower priority holds a licence
		}
		trial := plan.clone()
		var chosen []string
		for _, k := range keys {
			if taken[k] || d.unitPriority(sessions, groups[k]) >= s.Priority {
				continue
			}
			before := trial.room(s.Holder)
			trial.removeUnit(sessions, groups[k])
			if trial.room(s.Holder) <= before {
				for _, i := range groups[k] { // it would not help: put it back
					trial.add(sessions[i].Holder, sessions[i].licences())
				}
				continue
			}
			chosen = append(chosen, k)
			if trial.room(s.Holder) >= need {
				break
			}
		}
		if trial.room(s.Holder) < need || behind(trial, s.Holder, need) {
			keeps()
			continue // preempting cannot make it fit, or a head ahead would keep it: take nothing
		}
		plan = trial
		plan.add(s.Holder, s.licences())
		for _, k := range chosen {
			taken[k] = true
			endedNow = d.preemptUnit(sessions, groups[k], s, u) || endedNow
		}
	}
	return endedNow
}

// preemptible are the licence units (sessions, or holders with countBy Holder) that may be
// preempted, most recently granted first: Active, and under no notice.
func (d *decision) preemptible(sessions []Session) (keys []string, groups map[string][]int) {
	var holders []int
	for i, r := range d.res.Sessions {
		if r.Phase == v1alpha1.SessionActive && r.EndsAt == nil {
			holders = append(holders, i)
		}
	}
	keys, groups = d.licenceUnits(sessions, holders)
	if d.pool.Policy.CountByHolder {
		// A holder's licences free only when all its sessions end: a holder with one of them
		// under notice already is not preemptible.
		var noticed = map[string]bool{}
		for i, r := range d.res.Sessions {
			if r.Phase == v1alpha1.SessionActive && r.EndsAt != nil {
				noticed[sessions[i].Holder] = true
			}
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return noticed[k] })
	}
	return keys, groups
}

// unitPriority is the highest priority among a licence unit's sessions.
func (d *decision) unitPriority(sessions []Session, unit []int) int32 {
	i := slices.MaxFunc(unit, func(a, b int) int { return cmp.Compare(sessions[a].Priority, sessions[b].Priority) })
	return sessions[i].Priority
}

// preemptUnit notices (or, without a grace period, ends) the sessions of a licence unit for the
// waiting session w, and moves their licences to those under notice. It reports whether they
// ended at once.
func (d *decision) preemptUnit(sessions []Session, unit []int, w Session, u *units) bool {
	grace := d.pool.Policy.PreemptGrace
	u.removeUnit(sessions, unit)
	for _, i := range unit {
		s := sessions[i]
		if grace <= 0 {
			d.end(i, v1alpha1.EndPreempted, fmt.Sprintf("session %s, of higher priority (%d over %d), took %s of pool %s (preemption)",
				w.Name, w.Priority, s.Priority, theLicences(s), d.pool.Name))
			continue
		}
		u.addNoticed(s.Holder, s.licences())
		r := &d.res.Sessions[i]
		r.EndsAt, r.PreemptedBy = timePtr(d.now.Add(grace)), w.Name
		r.Overdraft = false
		d.wake(*r.EndsAt)
	}
	return grace <= 0
}

// withdrawPreemptions drops the notices given for a session that no longer waits, and words
// the others.
func (d *decision) withdrawPreemptions(sessions []Session, queue []waiter) {
	var waiting map[string]Session // built for the first holder under notice: most passes have none
	for i := range d.res.Sessions {
		r := &d.res.Sessions[i]
		if r.Phase != v1alpha1.SessionActive || r.PreemptedBy == "" {
			continue
		}
		if waiting == nil {
			waiting = make(map[string]Session, len(queue))
			for _, w := range queue {
				waiting[sessions[w.i].Name] = sessions[w.i]
			}
		}
		s := sessions[i]
		w, ok := waiting[r.PreemptedBy]
		if !ok {
			r.EndsAt, r.PreemptedBy = nil, ""
			d.activate(i, s)
			continue
		}
		r.Message = fmt.Sprintf("session %s, of higher priority (%d over %d), takes %s of pool %s: %s keeps %s until %s, then the session ends (preemption) unless licences free first",
			w.Name, w.Priority, s.Priority, theLicences(s), d.pool.Name, s.Holder, these(s), r.EndsAt.UTC().Format(time.RFC3339))
	}
}

// preemption is what a waiting session's message says of the licences coming to it.
type preemption struct {
	victims  []string
	at       time.Time // when the last of them ends
	priority int32     // the highest priority among them
}

// preemptionsFor lists, for each waiting session, the holders under notice for it.
func (d *decision) preemptionsFor(sessions []Session) map[string]*preemption {
	out := map[string]*preemption{}
	for i, r := range d.res.Sessions {
		if r.Phase != v1alpha1.SessionActive || r.PreemptedBy == "" {
			continue
		}
		p := out[r.PreemptedBy]
		if p == nil {
			p = &preemption{at: *r.EndsAt, priority: sessions[i].Priority}
			out[r.PreemptedBy] = p
		}
		p.victims = append(p.victims, sessions[i].Name)
		if r.EndsAt.After(p.at) {
			p.at = *r.EndsAt
		}
		p.priority = max(p.priority, sessions[i].Priority)
	}
	return out
}
