package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// Queue positions cost a write per waiting session each time the queue moves, so a standing
// queue would turn every grant into a write for each waiter. A session that becomes the head
// of the queue (position 1: "you are next") is written as soon as the slow lane allows (see
// slow_lane.go); other moves of the first queueHead positions, and changes of the queue's
// length in their messages, are written at most once per headRefreshEvery for each pool, and
// positions further back at most once per tailRefreshEvery. A session's first status, and every
// change of phase, are written at once or, when they move no licence, by the slow lane.
const (
	queueHead        = 20
	headRefreshEvery = time.Second
	tailRefreshEvery = 5 * time.Second
)

// statusWrite is one object's status change: orig is the cached object (never modified), next
// a copy carrying the new status, and notes the Events to record once it has landed.
type statusWrite struct {
	orig, next client.Object
	notes      []note
	// grant: the write hands the claimant a licence.
	grant bool
}

// writePlan is what a pass writes, sorted into the ledger's order (see ledger.go).
type writePlan struct {
	// revoke: claimants that lose a licence, written before the ledger frees it.
	revoke []statusWrite
	// promises: what the pass does with the ledger's promises (see "Promises" in ledger.go).
	// fast: grants on a promise that is due, written without waiting for the ledger. first:
	// sessions whose promise the ledger drops, or that get a new one, written before the
	// ledger; firstChecks: those of them whose status does not change, whose resourceVersion is
	// checked instead.
	promises    promisePlan
	fast        []statusWrite
	first       []statusWrite
	firstChecks []*v1alpha1.SharedSession
	// marks: sessions given a new promise, by the slow lane ahead of everything else it sends.
	marks []statusWrite
	// namesSoon: the marks are to be named by a pass as soon as they land (see planWrites).
	namesSoon bool
	// pool: the pool's new status (nil when unchanged or there is no pool); checkLedger: the
	// status is unchanged but grants follow, so the pool's resourceVersion is checked anyway.
	pool        *statusWrite
	checkLedger bool
	// parts: changes to the ledger's LicenseLedgers; poolGains: the pool's status records a
	// holder it did not. Parts that gain holders are written before those that only lose any
	// (see "Parts" in ledger.go). checkParts: unchanged parts that record a holder this pass
	// grants, whose resourceVersion is checked as the pool's is.
	parts      []partWrite
	poolGains  bool
	checkParts []*v1alpha1.LicenseLedger
	// ledgerErr: the decision cannot be recorded (a grant past the limit, which the allocator
	// never makes); nothing of the plan may be applied.
	ledgerErr error
	// checked: grants, and ends of sessions that held nothing (Rejected, NotEntitled, ...),
	// written after the pool's check, since they are decided on the ledger.
	checked []statusWrite
	// other: every other change.
	other []statusWrite
	// head and tail: updates that only move numbers, written when the pool's refresh of them
	// is due (see queueHead): head, positions in the first queueHead places; tail, positions
	// further back and the counts in waiting seats' messages.
	head, tail []statusWrite
	// remove: ended sessions past their retention.
	remove []*v1alpha1.SharedSession
	// quietStarted are the sessions first seen waiting unannounced (announceWaitAfter), for
	// the memory to note.
	quietStarted []types.UID
	// announceAt is when the earliest held-back Waiting announcement is due; zero if none.
	announceAt time.Time
}

// planWrites turns the allocator's decision into the writes that carry it out. It is pure: it
// reads the memory of quiet waits through waitingSince (poolMemory.waitsOf) and returns the
// changes to make to it.
func planWrites(snap *snapshot, res allocator.Result, now time.Time, waitingSince func(types.UID) (time.Time, bool)) writePlan {
	var p writePlan
	p.promises = planPromises(snap, res)
	layout := planPool(&p, snap, res)
	if p.ledgerErr != nil {
		return p
	}
	for i, s := range snap.seats {
		planSeat(&p, s, res.Seats[i])
	}
	for i, s := range snap.sessions {
		planSession(&p, s, res.Sessions[i], res.Usage, now, waitingSince)
	}
	if len(p.marks) > 0 {
		// A pass after the lane has given these promises names them in the ledger; in a busy
		// pool the next release brings it sooner. A ledger that would name too few for the
		// next releases (holders granted together end together) names them once they land.
		p.announceAt = earliest(p.announceAt, now.Add(promiseLedgerLag))
		p.namesSoon = len(p.promises.list) < promiseCover(res.Usage.SessionLimit)
	}
	p.deferLedger(snap, now)
	p.checkLedger = p.pool == nil && snap.pool != nil && len(p.checked) > 0
	p.checkParts = partsToCheck(p, layout, snap.ledger())
	return p
}

// planPromised plans only what the promise lane writes: the grants on a promise that is due.
// Planning every session's status, as a pass does, costs twice the decision behind a long
// queue, and the lane writes none of it.
func planPromised(snap *snapshot, res allocator.Result, now time.Time, waitingSince func(types.UID) (time.Time, bool)) ([]statusWrite, error) {
	p := writePlan{promises: promisePlan{due: snap.promises.due}}
	if planPool(&p, snap, res); p.ledgerErr != nil {
		return nil, p.ledgerErr
	}
	for i, s := range snap.sessions {
		if snap.promises.due[s.UID] {
			planSession(&p, s, res.Sessions[i], res.Usage, now, waitingSince)
		}
	}
	return p.fast, nil
}

// partsToCheck are the unchanged LicenseLedgers that record a holder the plan grants: the
// grant rests on them as it rests on the pool's status.
func partsToCheck(p writePlan, layout ledgerLayout, parts ledgerParts) []*v1alpha1.LicenseLedger {
	if len(layout.parts) == 0 && parts.single() {
		return nil
	}
	written := map[int]bool{}
	for _, w := range layout.parts {
		written[w.part] = true
	}
	var out []*v1alpha1.LicenseLedger
	for _, w := range p.checked {
		if !w.grant {
			continue
		}
		// A session's licences may be recorded in several parts: its grant rests on each.
		entries, where := []string{w.orig.GetName()}, layout.seatPart
		if s, ok := w.orig.(*v1alpha1.SharedSession); ok {
			entries, where = v1alpha1.LedgerEntries(s.Name, s.Spec.Count), layout.sessionPart
		}
		for _, e := range entries {
			k, ok := where[e]
			if ok && k > 0 && !written[k] && k < len(parts.objs) && parts.objs[k] != nil {
				written[k] = true
				out = append(out, parts.objs[k])
			}
		}
	}
	return out
}

// planPool plans the pool's new status, if it changed, and the ledger's parts.
func planPool(p *writePlan, snap *snapshot, res allocator.Result) ledgerLayout {
	if snap.pool == nil {
		return ledgerLayout{}
	}
	layout, err := layoutLedger(snap.pool, snap.ledger(), res, snap.uids, snap.size())
	if err != nil {
		p.ledgerErr = err
		return layout
	}
	if layout.part0 != nil && layout.part0.Sessions != nil && len(p.promises.list) > 0 {
		layout.part0.Promises = p.promises.list
	}
	p.parts, p.poolGains = layout.parts, layout.gains0
	for _, stray := range snap.strayParts {
		p.parts = append(p.parts, partWrite{part: int(stray.Spec.Part), orig: stray, stray: true})
	}
	st := poolStatus(snap.pool, res, snap.capacity, layout.part0)
	if equality.Semantic.DeepEqual(st, snap.pool.Status) {
		return layout
	}
	next := snap.pool.DeepCopy()
	next.Status = *st.DeepCopy() // the reply is decoded into it: share nothing with the cache
	p.pool = &statusWrite{orig: snap.pool, next: next, notes: poolNotes(snap.pool, next)}
	return layout
}

// planSeat plans one seat's write.
func planSeat(p *writePlan, s *v1alpha1.SeatAssignment, r allocator.SeatResult) {
	st := seatStatus(s, r)
	if equality.Semantic.DeepEqual(st, s.Status) {
		return
	}
	next := s.DeepCopy()
	next.Status = *st.DeepCopy() // the reply is decoded into it: share nothing with the cache
	w := statusWrite{orig: s, next: next, notes: seatNote(next, r)}
	switch {
	case r.Licence == allocator.Loses:
		p.revoke = append(p.revoke, w)
	case r.Licence == allocator.Gains:
		w.grant = true
		p.checked = append(p.checked, w)
	case r.Transition == allocator.NoTransition && st.Phase == v1alpha1.SeatPending &&
		s.Status.Phase == v1alpha1.SeatPending && s.Generation == s.Status.ObservedGeneration:
		// Only the numbers in a waiting seat's message moved: like queue positions behind the
		// head, refreshed with the pool's tail rather than on every grant.
		p.tail = append(p.tail, w)
	default:
		p.other = append(p.other, w)
	}
}

// sameSessionStatus is equality.Semantic.DeepEqual of two session statuses, after a look at
// the fields that tell most changes apart (behind a long queue, nearly every waiting session's
// position and message move at every grant, and a pass compares them all).
func sameSessionStatus(a, b v1alpha1.SharedSessionStatus) bool {
	if a.Phase != b.Phase || a.QueuePosition != b.QueuePosition || a.Message != b.Message {
		return false
	}
	return equality.Semantic.DeepEqual(a, b)
}

// planSession plans one session's write, or its deletion.
func planSession(p *writePlan, s *v1alpha1.SharedSession, r allocator.SessionResult, u allocator.Usage, now time.Time, waitingSince func(types.UID) (time.Time, bool)) {
	if r.Delete {
		p.remove = append(p.remove, s)
		return
	}
	if s.Status.Phase == v1alpha1.SessionEnded {
		// The record is final: the API server refuses any change to it, even of its
		// observedGeneration (a delete held by a finalizer raises the generation).
		return
	}
	st := sessionStatus(s, r, u)
	token, decided := p.promises.tokens[s.UID]
	if st.Phase == v1alpha1.SessionWaiting {
		switch {
		case decided:
			st.Promise = token
		case p.promises.on:
			st.Promise = s.Status.Promise
		}
	}
	first := p.promises.first[s.UID]
	if sameSessionStatus(st, s.Status) {
		if first {
			p.firstChecks = append(p.firstChecks, s)
		}
		return
	}
	if st.Phase == v1alpha1.SessionWaiting && st.Promise == "" && p.promises.on && !decided {
		st.Promise = promiseToken(s) // with a write it gets anyway (see promisePlan.tokens)
	}
	next := s.DeepCopy()
	next.Status = *st.DeepCopy() // the reply is decoded into it: share nothing with the cache
	w := statusWrite{orig: s, next: next, notes: sessionNote(next, r)}
	switch {
	case r.Licence == allocator.Loses:
		p.revoke = append(p.revoke, w)
	case r.Licence == allocator.Gains && p.promises.due[s.UID]:
		w.grant = true
		p.fast = append(p.fast, w)
	case r.Licence == allocator.Gains:
		w.grant = true
		p.checked = append(p.checked, w)
	case first:
		p.first = append(p.first, w)
	case p.promises.marks[s.UID]:
		p.marks = append(p.marks, w)
	case r.Transition == allocator.SessionEnded:
		p.checked = append(p.checked, w)
	case r.Transition == allocator.SessionNoticed || (r.EndsAt == nil && s.Status.EndsAt != nil) || st.PreemptedBy != s.Status.PreemptedBy:
		// A notice, its withdrawal, or a change of who preempts, is never paced: its end would
		// slide while it waits.
		p.checked = append(p.checked, w)
	case r.Transition == allocator.SessionQueued:
		first, seen := waitingSince(s.UID)
		if !seen {
			first = now
			p.quietStarted = append(p.quietStarted, s.UID)
		}
		if at := first.Add(announceWaitAfter); now.Before(at) {
			p.announceAt = earliest(p.announceAt, at)
			return
		}
		// The memory forgets the wait when the watch shows the session with a phase
		// (poolMemory.seen), not now: the slow lane sends this write after the pass.
		p.other = append(p.other, w)
	case st.Phase == v1alpha1.SessionWaiting && s.Status.Phase == v1alpha1.SessionWaiting &&
		s.Generation == s.Status.ObservedGeneration &&
		(st.QueuePosition != 1 || s.Status.QueuePosition == 1 || (st.Promise != "" && st.Promise == s.Status.Promise)):
		// Only the position, or the queue's length, moved; a new head is written at once,
		// unless it holds a promise: the licence comes to it sooner than the news would.
		if st.QueuePosition > queueHead && s.Status.QueuePosition > queueHead {
			p.tail = append(p.tail, w)
		} else {
			p.head = append(p.head, w)
		}
	default:
		p.other = append(p.other, w)
	}
}

// waitsForLane returns the claimants the slow lane is writing that a write that moves a licence
// (a revocation, a grant, an end decided on the ledger) would go to: the pass must wait for the
// lane's answers.
func (p *writePlan) waitsForLane(writing map[types.UID]bool) []types.UID {
	if len(writing) == 0 {
		return nil
	}
	var out []types.UID
	for _, ws := range [][]statusWrite{p.revoke, p.fast, p.first, p.checked} {
		for _, w := range ws {
			if writing[w.orig.GetUID()] {
				out = append(out, w.orig.GetUID())
			}
		}
	}
	return out
}
