package controllers

import (
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// Promises: the hand-off without the ledger in front. See "Promises" in ledger.go for the
// protocol and why it cannot over-grant; this file is its pure half.

// minPromiseWindow is the fewest of the queue's first sessions a pool promises licences to, and
// maxPromiseCover the most promises a ledger is to name for the releases that may come
// together (promiseCover). promiseWindow says how many it promises.
const (
	minPromiseWindow = 8
	maxPromiseCover  = 8
)

// promiseWindow is how many of the queue's first sessions a pool of the limit promises
// licences to: two covers, at least minPromiseWindow. Holders granted together tend to end
// together, and their promised sessions, granted together, end together too: a ledger written
// after one round of releases then names the next round's promises already, without waiting
// for new ones to be given. The ledger lists at most 16 (2 × maxPromiseCover).
func promiseWindow(limit int32) int {
	return max(minPromiseWindow, 2*promiseCover(&limit))
}

// longQueueFactor: a queue at least this many times the pool's limit is long. Its first
// sessions are promised licences as soon as they queue, with their wait announced in the same
// write: they would wait long enough to be announced anyway. Behind a shorter queue a session
// is promised one once its wait is announced (announceWaitAfter).
const longQueueFactor = 2

// promiseState is what the ledger's promises mean on a snapshot.
type promiseState struct {
	// list is the ledger's promises, in order (nil: none).
	list []v1alpha1.Promise
	// freed is how many of the ledger's session entries belong to sessions that have freed
	// their licences for good: Ended, or deleted as the watch reported.
	freed int
	// held are the promised sessions the allocator is to see as holding: those Active (granted
	// on their promise by this operator or another) and those whose promise is due.
	held []string
	// due are the promised sessions whose promise is due: a grant of theirs may be written
	// before the ledger records it. granted counts the promised sessions already Active.
	due     map[types.UID]bool
	granted int
	// grantedSince is the oldest grant of the promised sessions already Active: the oldest
	// grant the ledger does not record yet (zero: none).
	grantedSince time.Time
	// coming are the sessions still waiting on their promise at most as many places back as
	// the ledger lists holders: those that may come due before the ledger is written again.
	coming []types.UID
}

// readPromises reads the ledger's promises against the cached sessions. deleted says whether
// the watch reported a session's UID deleted; limit is the pool's effective limit.
func readPromises(pool *v1alpha1.LicensePool, sessions []*v1alpha1.SharedSession, deleted func(types.UID) bool, limit *int32) promiseState {
	if pool == nil || pool.Status.Ledger == nil || len(pool.Status.Ledger.Promises) == 0 {
		return promiseState{}
	}
	l := pool.Status.Ledger
	st := promiseState{list: l.Promises, due: map[types.UID]bool{}}
	byName := sessionsByName(sessions)
	entries := 0
	if g := l.Sessions; g != nil {
		entries = len(g.Holders)
		if recorded := g.RecordedUIDs(); recorded != nil {
			for i, e := range g.Holders {
				s := byName[v1alpha1.LedgerHolder(e)]
				if (s != nil && s.UID == recorded[i] && s.Status.Phase == v1alpha1.SessionEnded) || deleted(recorded[i]) {
					st.freed++
				}
			}
		}
	}
	// What may be in use: the entries not freed, and the promised sessions already Active.
	inUse := entries - st.freed
	for _, p := range l.Promises {
		if s := byName[p.Name]; s != nil && s.UID == p.UID && s.Status.Phase == v1alpha1.SessionActive {
			st.held = append(st.held, p.Name)
			st.granted++
			inUse++
			if g := s.Status.GrantedAt; g != nil && (st.grantedSince.IsZero() || g.Time.Before(st.grantedSince)) {
				st.grantedSince = g.Time
			}
		}
	}
	for k, p := range l.Promises {
		s := byName[p.Name]
		if s != nil && k < entries && promiseValid(s, p) {
			st.coming = append(st.coming, s.UID)
		}
		if k+1 > st.freed || s == nil || !promiseValid(s, p) || !s.DeletionTimestamp.IsZero() || s.Spec.Terminate {
			continue
		}
		if limit == nil || inUse+1 > int(*limit) {
			// The limit dropped since the promise: it waits for the queue like the others.
			break
		}
		inUse++
		st.held = append(st.held, p.Name)
		st.due[s.UID] = true
	}
	return st
}

// promiseValid reports whether a cached session still holds the promise p made to it: the same
// session, Waiting, with the promise's token.
func promiseValid(s *v1alpha1.SharedSession, p v1alpha1.Promise) bool {
	return s.UID == p.UID && s.Status.Phase == v1alpha1.SessionWaiting && s.Status.Promise == p.Token
}

func sessionsByName(sessions []*v1alpha1.SharedSession) map[string]*v1alpha1.SharedSession {
	m := make(map[string]*v1alpha1.SharedSession, len(sessions))
	for _, s := range sessions {
		m[s.Name] = s
	}
	return m
}

// promising reports whether a pool makes promises: its sessions are granted in the queue's
// order alone, so the next licence freed goes to the head of the queue whoever frees it. A
// pool with groups, caps per holder, overdraft, preemption, countBy Holder or whenExhausted
// Reject decides on more than that; one whose list of shared licences does not fit in the
// pool's status keeps its ledger in parts (see "Parts" in ledger.go).
func promising(snap *snapshot, res allocator.Result) bool {
	p := snap.pool
	if p == nil || managedElsewhere(p) || res.Usage.SessionLimit == nil || *res.Usage.SessionLimit < 1 || !snap.ledger().single() {
		return false
	}
	if room := ledgerRoom(res.Usage.SessionLimit, res.Usage.Overdraft); partsFor(*room, snap.size()) != 1 {
		return false
	}
	s, sp := p.Spec, p.Spec.SessionPolicy
	return len(s.Groups) == 0 && sp.MaxPerHolder == 0 && (s.OverdraftSessions == nil || *s.OverdraftSessions == 0) &&
		(sp.Preemption == nil || sp.Preemption.Policy != v1alpha1.PreemptLowerPriority) &&
		sp.CountBy != v1alpha1.CountByHolder && sp.WhenExhausted != v1alpha1.WhenExhaustedReject
}

// promisePlan is what a pass does with the promises.
type promisePlan struct {
	// list is the ledger's new promises, in order.
	list []v1alpha1.Promise
	// tokens are the promise a session is to show ("": none) where the plan decides it. A
	// waiting session it does not name keeps what it shows in a pool that makes promises
	// (on), and one that shows none is given one with the next write it gets anyway, so that
	// it needs no write of its own when its turn to be named comes; elsewhere it shows none.
	tokens map[types.UID]string
	on     bool
	// first are the sessions to write before the ledger, with optimistic concurrency, whether
	// or not their status changes: a promise the ledger drops is first taken from its session
	// (or, the session showing none in the cache, the cache is checked to be current), and a
	// new promise is given to its session before the ledger names it.
	first map[types.UID]bool
	// due: the sessions whose promise is due (promiseState.due); marks: those that get a new
	// promise by the slow lane (lanePromise), for a later pass's ledger to name.
	due, marks map[types.UID]bool
}

// planPromises decides the ledger's next promises after the allocator's decision: the first
// promiseWindow sessions of the queue, each with one licence, in the queue's order. A promise
// the ledger made before is kept where the protocol allows (see "Promises" in ledger.go); a
// new one gets a fresh token.
func planPromises(snap *snapshot, res allocator.Result) promisePlan {
	p := promisePlan{tokens: map[types.UID]string{}, first: map[types.UID]bool{}, due: snap.promises.due, marks: map[types.UID]bool{},
		on: promising(snap, res)}
	if len(snap.promises.list) == 0 && !p.on {
		return p
	}
	var kept map[types.UID]bool
	if p.on {
		kept = p.fillWindow(snap, res, droppedEntries(snap, res))
	}
	p.dropOthers(snap, res, kept)
	return p
}

// droppedEntries is how many of the ledger's session entries the decision drops. A promise k
// places back may stay only that many fewer places back: the holders it waits for are as many
// fewer.
func droppedEntries(snap *snapshot, res allocator.Result) int {
	l := snap.pool.Status.Ledger
	if l == nil || l.Sessions == nil {
		return 0
	}
	now := make(map[string]bool, len(res.SessionLedger))
	for _, e := range res.SessionLedger {
		now[e] = true
	}
	d := 0
	for _, e := range l.Sessions.Holders {
		if !now[e] {
			d++
		}
	}
	return d
}

// fillWindow lists the promises of the queue's first sessions, d being the entries the
// decision drops, and returns the old promises it kept as they were.
func (p *promisePlan) fillWindow(snap *snapshot, res allocator.Result, d int) map[types.UID]bool {
	old := snap.promises.list
	at := make(map[types.UID]int, len(old))
	for k, o := range old {
		at[o.UID] = k + 1
	}
	kept := map[types.UID]bool{}
	// listing: every session before this one in the window is in the list. The list follows
	// the queue's order, so it stops at the first session whose promise is still on its way.
	listing := true
	queue := queueOrder(res)
	longQueue := len(queue) >= longQueueFactor*int(*res.Usage.SessionLimit)
	window := promiseWindow(*res.Usage.SessionLimit)
	for n, i := range queue {
		if n == window {
			break
		}
		s := snap.sessions[i]
		if s.Spec.Count > 1 || !s.DeletionTimestamp.IsZero() || s.Spec.Terminate {
			break // promises follow the queue's order: none past a session that cannot take one
		}
		place := len(p.list) + 1
		k, listed := at[s.UID]
		switch {
		case listed && listing && promiseValid(s, old[k-1]) && place <= k-d:
			kept[s.UID] = true
			p.list = append(p.list, old[k-1])
			p.tokens[s.UID] = old[k-1].Token
		case !listed && s.Status.Promise != "":
			// Given by an earlier pass: the session shows it, so the ledger may name it.
			p.tokens[s.UID] = s.Status.Promise
			if listing {
				p.list = append(p.list, v1alpha1.Promise{Name: s.Name, UID: s.UID, Token: s.Status.Promise})
			}
		case listed:
			// A promise the ledger cannot keep where it stands: the session gets a new one
			// before the ledger names it, which takes the old one back.
			t := promiseToken(s)
			p.tokens[s.UID], p.first[s.UID] = t, true
			if listing {
				p.list = append(p.list, v1alpha1.Promise{Name: s.Name, UID: s.UID, Token: t})
			}
		case s.Status.Phase != v1alpha1.SessionWaiting && !longQueue:
			// Its wait is not announced yet, and may end before it is (announceWaitAfter): a
			// promise would cost it a write it would not have had.
			listing = false
		default:
			// A new promise: the session is told first (by the slow lane, ahead of its other
			// writes, with its wait), and a later pass's ledger names it.
			p.tokens[s.UID], p.marks[s.UID] = promiseToken(s), true
			listing = false
		}
	}
	return kept
}

// dropOthers drops every old promise not kept: with no write when its session holds a licence
// in the new ledger or has gone for good; otherwise the session's promise is taken back first.
func (p *promisePlan) dropOthers(snap *snapshot, res allocator.Result, kept map[types.UID]bool) {
	byUID := make(map[types.UID]int, len(snap.sessions))
	for i, s := range snap.sessions {
		byUID[s.UID] = i
	}
	for _, o := range snap.promises.list {
		if kept[o.UID] {
			continue
		}
		i, ok := byUID[o.UID]
		if !ok {
			continue // gone: ledgerAhead waited for the cache until it was sure
		}
		s, r := snap.sessions[i], res.Sessions[i]
		if s.Status.Phase == v1alpha1.SessionEnded || r.Phase == v1alpha1.SessionActive {
			continue
		}
		p.first[o.UID] = true
		if _, ok := p.tokens[o.UID]; !ok {
			p.tokens[o.UID] = ""
		}
	}
}

// queueOrder is the indices of the sessions the decision leaves waiting, in their queue's order.
func queueOrder(res allocator.Result) []int {
	var q []int
	for i, r := range res.Sessions {
		if r.Phase == v1alpha1.SessionWaiting && r.QueuePosition > 0 {
			q = append(q, i)
		}
	}
	slices.SortFunc(q, func(a, b int) int { return int(res.Sessions[a].QueuePosition - res.Sessions[b].QueuePosition) })
	return q
}

// promiseToken is the token of a promise given to the session as cached: a hash of its UID and
// resourceVersion. A pass that plans it again from the same state plans the same write; a
// promise taken back and given again is given on a newer state, so it is never mistaken for
// the one before.
func promiseToken(s *v1alpha1.SharedSession) string {
	h := fnv.New64a()
	h.Write([]byte(s.UID))
	h.Write([]byte{0})
	h.Write([]byte(s.ResourceVersion))
	return strconv.FormatUint(h.Sum64(), 16)
}

// promiseLedgerLag is how long the ledger may lag behind the grants made on its promises: a
// pass that only grants on promises, and leaves at least promiseReserve more that can come
// due, leaves the ledger (and the pool's status) to a pass at most this much after the oldest
// grant it does not record, which records every grant made since at once. Until then each
// such grant is one write.
//
// The lag runs from the oldest grant, not from the last ledger write: the release of a holder
// the ledger does not record frees no promise (it is not one of the ledger's entries), so its
// licence waits for the next ledger write. Behind a long queue with holds of 200 ms, a lag of
// 250 ms from the last write left the ledger written every 220 ms or so, just as the holders
// granted right after the last write were going: 7 and 14 hand-offs of two traced runs waited
// for it, none with this lag. A hold shorter than the lag and a ledger write still waits.
//
// promiseLedgerMaxLag bounds the lag from this operator's last ledger write as well, for grants
// whose time cannot be trusted: without grantedAt, or stamped ahead of this operator's clock by
// another operator's.
const (
	promiseLedgerLag    = 150 * time.Millisecond
	promiseLedgerMaxLag = 250 * time.Millisecond
	promiseReserve      = 2
)

// promiseCover is how many promises the ledger is to name for the releases that may come
// together: as many as the pool's limit, up to maxPromiseCover.
func promiseCover(limit *int32) int {
	if limit == nil {
		return 0
	}
	return min(int(*limit), maxPromiseCover)
}

// deferLedger leaves the pool's status unwritten when the pass only records grants on promises,
// its own or the promise lane's (see promiseLedgerLag), and asks for the pass that will write it.
func (p *writePlan) deferLedger(snap *snapshot, now time.Time) {
	oldest := now // the pass's own grants on promises
	if since := snap.promises.grantedSince; !since.IsZero() && since.Before(now) {
		oldest = since
	}
	// A promise taken back (first), like any grant, revocation or end, needs the ledger now.
	if p.pool == nil || (len(p.fast) == 0 && snap.promises.granted == 0) || len(p.revoke) > 0 || len(p.checked) > 0 ||
		len(p.first) > 0 || len(p.firstChecks) > 0 || len(p.parts) > 0 || snap.ledgerAt.IsZero() ||
		now.Sub(oldest) >= promiseLedgerLag || now.Sub(snap.ledgerAt) >= promiseLedgerMaxLag ||
		snap.pool.Generation != snap.pool.Status.ObservedGeneration {
		return
	}
	if len(snap.promises.coming)-len(p.fast) < promiseReserve {
		return // the next releases would find no promise due
	}
	p.pool, p.poolGains = nil, false
	p.announceAt = earliest(p.announceAt, earliest(oldest.Add(promiseLedgerLag), snap.ledgerAt.Add(promiseLedgerMaxLag)))
}
