package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The slow lane. Writes that move no licence (a wait's first announcement, queue positions, the
// numbers in messages) do not go out in the pass that plans them. Behind a long queue every
// grant moves every position, and a pass that wrote them would keep the pool's worker, and the
// API server, busy while the next released licence waits. The pass hands them to its pool's
// slow lane once its grants have landed, and returns; the lane sends them between passes:
//
//   - never while a pass of the pool runs: a pass starts without waiting, and the lane resumes
//     when it ends;
//   - at the pool's pace: at most slowBurst at once, refilled at slowRate a second;
//   - announcements and other changes first; then the head's positions, a round at most once
//     per headRefreshEvery, and the tail's, a round at most once per tailRefreshEvery. A round
//     writes each session that needed a write when it began, as the newest pass planned it;
//   - from the state the newest pass saw, with optimistic concurrency. A write that loses a race
//     to a heartbeat is sent again from the cached state; one that loses any other race is
//     dropped, and the lane asks for a pass, which plans it again from the newer state.
//
// While a write of the lane is in flight its claimant counts as being written (poolMemory.catchUp):
// a pass waits for the answer before it moves the claimant's licence (and the lane drops what it
// still holds for that claimant: the pass's write replaces it), and a write that moves none
// waits in the lane, which sends it from the answer.
//
// The drainer runs on the context of the pass that started it: controller-runtime cancels that
// only when the manager stops (no ReconciliationTimeout is set).
//
// A lane holds at most laneHold writes of each class, the first the pass planned: behind a
// queue of 100,000 it would otherwise keep a copy of every waiting session. A lane that had to
// leave writes out asks for a pass once it runs dry, which plans the rest.
//
// While the pool hands licences on (a pass moved one within the last busyFor), the lane keeps
// to a slower pace, busyBurst at once and busyRate a second: its writes share the API server
// with the next grant, and each one it sends then is one the next grant may queue behind.
// Positions are moving faster than any pace could follow anyway; the quiet pace returns a
// second after the last grant.
const (
	slowBurst = 8
	slowRate  = 48.0
	busyBurst = 2
	busyRate  = 12.0
	busyFor   = time.Second
	laneHold  = 1024
)

// pace is the lane's burst and rate at now.
func (l *slowLane) pace(now time.Time) (burst int, rate float64) {
	if !l.moved.IsZero() && now.Sub(l.moved) < busyFor {
		return busyBurst, busyRate
	}
	return slowBurst, slowRate
}

// laneClass is which kind of slow write a write is.
type laneClass int8

const (
	lanePromise laneClass = iota // new promises (see "Promises" in ledger.go): never paced
	laneOther                    // announcements, and every other change that moves no licence
	laneHead                     // positions in the first queueHead places
	laneTail                     // positions further back, and the counts in waiting seats' messages
)

// slowWrite is one write of the lane: its class, and its place in the pass's plan.
type slowWrite struct {
	statusWrite
	class laneClass
	order int
	// nameSoon: a new promise the ledger is to name as soon as it lands, since the ledger
	// names too few for the next releases (see planWrites).
	nameSoon bool
}

// slowLane is one pool's lane, kept in the pool's memory.
type slowLane struct {
	pool   *v1alpha1.LicensePool // the newest pass's, for Events
	writes map[types.UID]slowWrite
	// order is the writes' claimants in the order the pass planned them; queues, by laneClass,
	// the claimants to write: those of lanePromise and laneOther every write of the class, those of the head and
	// the tail the round under way. A claimant whose write is gone, or changed class, is skipped.
	order  []types.UID
	queues [laneTail + 1][]types.UID
	// count of the writes of each class; began, when the last round of the head and of the
	// tail began.
	count  [laneTail + 1]int
	began  [laneTail + 1]time.Time
	budget tokens
	// moved: when a pass of the pool last moved a licence (see pace).
	moved   time.Time
	passing bool // a pass of the pool runs
	// granting: grants on a promise being written by the promise lane; the lane waits for them
	// as for a pass.
	granting int
	running  bool // a drainer sends the lane's writes
	// flying: the claimants whose write was sent and not yet answered. A newer write to one of
	// them waits in writes (and in after, by class, if its turn came) and goes from the answer.
	flying map[types.UID]bool
	after  map[types.UID]laneClass
	// kick: a pass is wanted once nothing is in flight; leftOut: the pass planned more writes
	// than the lane holds, and one is wanted once the lane runs dry (dry).
	kick    bool
	leftOut bool
	dry     bool
	// naming: a new promise the ledger is to name soon is on its way; its answer asks for a
	// pass.
	naming bool
	// refusal: a write the API server refused for good, for the next pass to report; refusing:
	// no write of the lane has landed since, so the pool's run of refusals goes on.
	refusal  error
	refusing bool
	wake     chan struct{}
}

// poke wakes the lane's drainer, if it waits.
func (l *slowLane) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// refreshEvery is how often a round of a class may begin.
func refreshEvery(c laneClass) time.Duration {
	if c == laneHead {
		return headRefreshEvery
	}
	return tailRefreshEvery
}

// grantsStart holds the pool's lane while the promise lane writes grants, as a pass does, and
// returns it (nil when the pool has none yet); grantsEnd lets that lane go on, at the busy pace
// if a licence moved (at now). A lane made meanwhile was never held, and is not let go.
func (m *poolMemory) grantsStart(pool types.NamespacedName) *slowLane {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l != nil {
		l.granting++
	}
	return l
}

func (m *poolMemory) grantsEnd(l *slowLane, moved bool, now time.Time) {
	if l == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.granting > 0 {
		l.granting--
		if moved {
			l.moved = now
		}
		l.poke()
	}
}

// passStarts holds the pool's lane: it sends nothing more until the pass ends.
func (m *poolMemory) passStarts(pool types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.lanes[pool]; l != nil {
		l.passing = true
	}
}

// passEnds lets the pool's lane go on. A pass that planned its writes (planned) hands them over:
// they replace whatever the lane still held, since they were planned from a newer state; one
// planned from a state an answer of ours has since replaced goes from the answer. It returns
// the lane when a drainer must be started for it.
func (m *poolMemory) passEnds(pool types.NamespacedName, p *v1alpha1.LicensePool, writes []slowWrite, planned, moved bool, now time.Time) *slowLane {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l == nil && len(writes) == 0 {
		return nil
	}
	if l == nil {
		if m.lanes == nil {
			m.lanes = map[types.NamespacedName]*slowLane{}
		}
		l = &slowLane{wake: make(chan struct{}, 1)}
		m.lanes[pool] = l
	}
	l.passing = false
	if moved {
		l.moved = now
	}
	if planned {
		l.pool = p
		l.writes = make(map[types.UID]slowWrite, len(writes))
		l.order = l.order[:0]
		l.count = [laneTail + 1]int{}
		l.queues[lanePromise] = l.queues[lanePromise][:0]
		l.queues[laneOther] = l.queues[laneOther][:0]
		l.leftOut = false
		for _, w := range writes {
			if l.count[w.class] == laneHold {
				l.leftOut = true
				continue
			}
			uid := w.orig.GetUID()
			if ow, ok := m.writes[uid]; ok && ow.rv != rvInFlight && ow.obj != nil && ow.before == w.orig.GetResourceVersion() {
				if !rebase(&w.statusWrite, ow.obj) {
					continue
				}
			}
			l.writes[uid] = w
			l.order = append(l.order, uid)
			l.count[w.class]++
			if w.class <= laneOther {
				l.queues[w.class] = append(l.queues[w.class], uid)
			}
		}
		for c := laneHead; c <= laneTail; c++ {
			beginRound(l, c, now)
		}
	}
	l.poke()
	if l.running || len(l.writes) == 0 {
		return nil
	}
	l.running = true
	return l
}

// beginRound begins a round of the class, over the writes the lane holds, if one is due.
func beginRound(l *slowLane, c laneClass, now time.Time) {
	if !roundDue(l, c, now) {
		return
	}
	for _, uid := range l.order {
		if w, ok := l.writes[uid]; ok && w.class == c {
			l.queues[c] = append(l.queues[c], uid)
		}
	}
	l.began[c] = now
}

// roundDue reports whether a round of the class may begin: none is under way, the lane holds
// writes of the class, and the last round began long enough ago.
func roundDue(l *slowLane, c laneClass, now time.Time) bool {
	return len(l.queues[c]) == 0 && l.count[c] > 0 && !now.Before(l.began[c].Add(refreshEvery(c)))
}

// nextSlow takes the lane's next writes, as many as its pace allows, and marks their claimants
// in flight. With none to send now it says how long to wait (a pass may end sooner, which wakes
// the drainer), or that the lane is done: it has nothing left (or is no longer the pool's), and
// its drainer stops. p is the pool the newest pass saw, for the writes' Events.
func (m *poolMemory) nextSlow(pool types.NamespacedName, l *slowLane, now time.Time) (batch []statusWrite, p *v1alpha1.LicensePool, wait time.Duration, done bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lanes[pool] != l {
		return nil, nil, 0, true
	}
	if l.passing || l.granting > 0 {
		return nil, nil, time.Second, false
	}
	for c := laneHead; c <= laneTail; c++ {
		beginRound(l, c, now)
	}
	burst, rate := l.pace(now)
	if l.budget.at.IsZero() {
		l.budget = tokens{n: float64(burst), at: now}
	}
	l.budget.n = min(float64(burst), l.budget.n+now.Sub(l.budget.at).Seconds()*rate)
	l.budget.at = now
	n := min(int(l.budget.n), burst-len(l.flying))
	promised := 0 // promises go at once, outside the pace: the next hand-off rests on them
	for c := lanePromise; c <= laneTail; c++ {
		q := &l.queues[c]
		for len(*q) > 0 && (c == lanePromise || len(batch)-promised < n) {
			uid := (*q)[0]
			*q = (*q)[1:]
			w, ok := l.writes[uid]
			if !ok || w.class != c {
				continue
			}
			if l.flying[uid] {
				if l.after == nil {
					l.after = map[types.UID]laneClass{}
				}
				l.after[uid] = c
				continue
			}
			batch = append(batch, w.statusWrite)
			if c == lanePromise {
				promised++
			}
			l.naming = l.naming || w.nameSoon
			delete(l.writes, uid)
			l.count[c]--
			if l.flying == nil {
				l.flying = map[types.UID]bool{}
			}
			l.flying[uid] = true
			if m.writes == nil {
				m.writes = map[types.UID]ownWrite{}
			}
			// What it will write, to know its echo by should the echo outrun the answer.
			m.writes[uid] = ownWrite{rv: rvInFlight, before: w.orig.GetResourceVersion(), at: now, obj: w.next.DeepCopyObject().(client.Object)}
		}
	}
	l.budget.n -= float64(len(batch) - promised)
	if len(batch) > 0 {
		return batch, l.pool, 0, false
	}
	pending, due := false, time.Time{}
	for c := lanePromise; c <= laneTail; c++ {
		if len(l.queues[c]) > 0 {
			pending = true
		} else if c > laneOther && l.count[c] > 0 {
			due = earliest(due, l.began[c].Add(refreshEvery(c)))
		}
	}
	switch {
	case pending && len(l.flying) < burst:
		return nil, nil, max(time.Duration((1-l.budget.n)/rate*float64(time.Second)), time.Millisecond), false
	case pending:
		return nil, nil, time.Second, false // the answers wake the drainer
	case !due.IsZero():
		return nil, nil, due.Sub(now), false
	}
	l.running = false
	l.dry, l.leftOut = l.leftOut, false
	return nil, nil, 0, true
}

// ranDry reports, once, whether the lane ran dry with writes left out: a pass is wanted.
func (m *poolMemory) ranDry(l *slowLane) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	dry := l.dry
	l.dry = false
	return dry
}

// slowLanded takes in the answers to a batch of the lane's writes: each claimant's in-flight
// mark goes (a write that landed has already left its answer, see wrote), a newer write to it
// waiting in the lane is moved onto the answer, and a write that failed asks for a pass. It
// reports whether a pass is wanted now: the lane has nothing in flight, and something asked
// for one.
func (m *poolMemory) slowLanded(pool types.NamespacedName, l *slowLane, batch []statusWrite, errs []error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range batch {
		if ow, ok := m.writes[w.orig.GetUID()]; ok && ow.rv == rvInFlight {
			dropKey(&m.writes, w.orig.GetUID())
		}
	}
	if m.lanes[pool] != l {
		return false
	}
	for i, w := range batch {
		uid := w.orig.GetUID()
		delete(l.flying, uid)
		c, waited := l.after[uid]
		delete(l.after, uid)
		newer, queued := l.writes[uid]
		switch {
		case errs[i] != nil:
			// The pass it asks for plans the claimant again, from the newer state.
			l.kick = true
			if refusedForGood(errs[i]) && l.refusal == nil {
				l.refusal, l.refusing = errs[i], true
			}
			if queued {
				delete(l.writes, uid)
				l.count[newer.class]--
			}
			continue
		case queued && rebase(&newer.statusWrite, w.next):
			l.writes[uid] = newer
			if waited {
				l.queues[c] = append(l.queues[c], uid)
			}
		case queued:
			delete(l.writes, uid)
			l.count[newer.class]--
		}
		l.refusing = false
	}
	if l.naming {
		l.naming, l.kick = false, true
	}
	dropEmpty(&l.flying)
	dropEmpty(&l.after)
	l.poke()
	if len(l.flying) > 0 || !l.kick {
		return false
	}
	l.kick = false
	return true
}

// dropEmpty lets an empty map go.
func dropEmpty[K comparable, V any](m *map[K]V) {
	if len(*m) == 0 {
		*m = nil
	}
}

// rebase moves a write planned from an older state of a claimant onto a newer one (landed: the
// API server's answer to one of our writes, or the cached state after a heartbeat), and
// reports whether it still changes anything. A session keeps the newer renewTime, and the
// newer stateChangedAt when its observed state is the one planned; a condition whose status is
// the one planned keeps the newer lastTransitionTime. A pass that planned from a state without
// them (the claimant's first write still in flight) stamped its own times, and would otherwise
// send a write that only moves those times (or, within the second the API server keeps of a
// condition's, nothing at all). Its Events went with the write that landed: the transition is
// the same.
func rebase(w *statusWrite, landed client.Object) bool {
	next := landed.DeepCopyObject().(client.Object)
	switch n := next.(type) {
	case *v1alpha1.SharedSession:
		was := n.Status // the landed state's, copied
		n.Status = *w.next.(*v1alpha1.SharedSession).Status.DeepCopy()
		n.Status.RenewTime = was.RenewTime // the holder's, which the operator never writes
		if was.StateChangedAt != nil && was.ObservedState == n.Status.ObservedState {
			n.Status.StateChangedAt = was.StateChangedAt
		}
		keepTransitions(n.Status.Conditions, was.Conditions)
		if equality.Semantic.DeepEqual(n.Status, landed.(*v1alpha1.SharedSession).Status) {
			return false
		}
	case *v1alpha1.SeatAssignment:
		was := n.Status.Conditions
		n.Status = *w.next.(*v1alpha1.SeatAssignment).Status.DeepCopy()
		keepTransitions(n.Status.Conditions, was)
		if equality.Semantic.DeepEqual(n.Status, landed.(*v1alpha1.SeatAssignment).Status) {
			return false
		}
	default:
		return false
	}
	w.orig, w.next, w.notes = landed, next, nil
	return true
}

// keepTransitions gives each condition the landed one's lastTransitionTime when its status is
// the same: it has not changed since.
func keepTransitions(conds, landed []metav1.Condition) {
	for i := range conds {
		if c := meta.FindStatusCondition(landed, conds[i].Type); c != nil && c.Status == conds[i].Status {
			conds[i].LastTransitionTime = c.LastTransitionTime
		}
	}
}

// dropQueued drops the writes the pool's lane holds for these claimants: a pass that waits for
// their answers writes them itself.
func (m *poolMemory) dropQueued(pool types.NamespacedName, uids []types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l == nil {
		return
	}
	for _, uid := range uids {
		if w, ok := l.writes[uid]; ok {
			delete(l.writes, uid)
			l.count[w.class]--
		}
	}
}

// laneRefusal returns, once, a write of the lane the API server refused for good.
func (m *poolMemory) laneRefusal(pool types.NamespacedName) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l == nil {
		return nil
	}
	err := l.refusal
	l.refusal = nil
	return err
}

// laneRefusing reports whether the pool's lane had a write refused and none landed since: the
// pool's run of refusals is not over, even when the pass's own writes land.
func (m *poolMemory) laneRefusing(pool types.NamespacedName) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	return l != nil && l.refusing
}

// stopDrain marks the lane as having no drainer.
func (m *poolMemory) stopDrain(l *slowLane) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l.running = false
}

// drain sends the writes of one pool's lane until it has none left. Unit tests drain inline
// (laneInline): what the pace allows now, then return.
func (r *PoolReconciler) drain(ctx context.Context, pool types.NamespacedName, l *slowLane) {
	var events laneEvents
	defer func() {
		if p := recover(); p != nil {
			log.FromContext(ctx).Error(fmt.Errorf("%v", p), "the slow lane stopped on a panic; the next pass starts it again", "pool", pool.String())
			r.memory.stopDrain(l)
		}
		r.recordEvents(events.take())
	}()
	for {
		if events.due(r.Clock.Now()) {
			r.recordEvents(events.take())
		}
		batch, p, wait, done := r.memory.nextSlow(pool, l, r.Clock.Now())
		if done {
			if r.memory.ranDry(l) {
				r.kick(ctx, pool)
			}
			return
		}
		if len(batch) == 0 && r.laneInline {
			r.memory.stopDrain(l)
			return
		}
		if len(batch) == 0 {
			timer := time.NewTimer(events.until(r.Clock.Now(), wait))
			select {
			case <-ctx.Done():
				timer.Stop()
				r.memory.stopDrain(l)
				return
			case <-l.wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		errs, landed := r.sendSlow(ctx, batch)
		countTransitions(landed)
		events.hold(p, landed, r.Clock.Now())
		if r.memory.slowLanded(pool, l, batch, errs) {
			r.kick(ctx, pool)
		}
	}
}

// laneEvents holds the Events of the lane's writes that landed, to record them together at
// most every laneEventsEvery: the lane sends a standing queue's announcements a few at a
// time, and one Event each would cost as many writes again.
type laneEvents struct {
	pool  *v1alpha1.LicensePool
	notes []note
	since time.Time
}

// laneEventsEvery is how long the slow lane holds the Events of its writes at most.
const laneEventsEvery = time.Second

func (e *laneEvents) hold(p *v1alpha1.LicensePool, notes []note, now time.Time) {
	if len(notes) == 0 {
		return
	}
	if len(e.notes) == 0 {
		e.since = now
	}
	e.pool, e.notes = p, append(e.notes, notes...)
}

// due reports whether the Events held have waited long enough.
func (e *laneEvents) due(now time.Time) bool {
	return len(e.notes) > 0 && !now.Before(e.since.Add(laneEventsEvery))
}

// until shortens a wait to when the Events held are due.
func (e *laneEvents) until(now time.Time, wait time.Duration) time.Duration {
	if len(e.notes) == 0 {
		return wait
	}
	return max(min(wait, e.since.Add(laneEventsEvery).Sub(now)), 0)
}

// take returns the Events held, and forgets them.
func (e *laneEvents) take() (*v1alpha1.LicensePool, []note) {
	p, n := e.pool, e.notes
	*e = laneEvents{}
	return p, n
}

// sendSlow sends a batch of the lane's writes at once, and returns the notes of those that
// landed. A write that lost a race to a heartbeat alone is sent again from the cached state.
func (r *PoolReconciler) sendSlow(ctx context.Context, batch []statusWrite) ([]error, []note) {
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var landed []note
	for i := range batch {
		wg.Go(func() {
			errs[i] = r.writeStatus(ctx, batch[i])
			if apierrors.IsConflict(errs[i]) {
				if w, ok := r.fromHeartbeat(ctx, batch[i]); ok {
					batch[i], errs[i] = w, r.writeStatus(ctx, w)
				}
			}
			if errs[i] != nil {
				log.FromContext(ctx).V(1).Info("a write that moves no licence did not land; a pass plans it again", "reason", errs[i].Error())
				return
			}
			mu.Lock()
			landed = append(landed, batch[i].notes...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs, landed
}

// fromHeartbeat moves a session's write onto the cached session, if a heartbeat is all that
// changed it since the write was planned.
func (r *PoolReconciler) fromHeartbeat(ctx context.Context, w statusWrite) (statusWrite, bool) {
	if _, ok := w.orig.(*v1alpha1.SharedSession); !ok {
		return w, false
	}
	cached := &v1alpha1.SharedSession{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(w.orig), cached); err != nil ||
		cached.UID != w.orig.GetUID() || cached.ResourceVersion == w.orig.GetResourceVersion() || !isHeartbeat(w.orig, cached) {
		return w, false
	}
	return w, rebase(&w, cached)
}

// kick asks for a pass of the pool.
func (r *PoolReconciler) kick(ctx context.Context, pool types.NamespacedName) {
	if r.kicks == nil {
		return
	}
	obj := &v1alpha1.LicensePool{}
	obj.Namespace, obj.Name = pool.Namespace, pool.Name
	select {
	case r.kicks <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
}
