package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
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
//     is dropped, and the lane asks for a pass, which plans it again from the newer state.
//
// While a write of the lane is in flight its claimant counts as being written (poolMemory.catchUp):
// a pass waits for the answer before it moves the claimant's licence, and a write that moves
// none waits in the lane, which sends it from the answer.
const (
	slowBurst = 8
	slowRate  = 48.0
)

// laneClass is which kind of slow write a write is.
type laneClass int8

const (
	laneOther laneClass = iota // announcements, and every other change that moves no licence
	laneHead                   // positions in the first queueHead places
	laneTail                   // positions further back, and the counts in waiting seats' messages
)

// slowWrite is one write of the lane: its class, and its place in the pass's plan.
type slowWrite struct {
	statusWrite
	class laneClass
	order int
}

// slowLane is one pool's lane, kept in the pool's memory.
type slowLane struct {
	pool   *v1alpha1.LicensePool // the newest pass's, for Events
	writes map[types.UID]slowWrite
	// queues, by laneClass: the claimants to write, in the order the pass planned them. That of
	// laneOther holds every write of the class; those of the head and the tail hold the round
	// under way. A claimant whose write is gone, or changed class, is skipped.
	queues [laneTail + 1][]types.UID
	// count of the writes of each class; began, when the last round of the head and of the
	// tail began.
	count   [laneTail + 1]int
	began   [laneTail + 1]time.Time
	budget  tokens
	passing bool // a pass of the pool runs
	running bool // a drainer sends the lane's writes
	// flying: the claimants whose write was sent and not yet answered. A newer write to one of
	// them waits in writes (and in after, by class, if its turn came) and goes from the answer.
	flying map[types.UID]bool
	after  map[types.UID]laneClass
	// kick: a pass is wanted once nothing is in flight.
	kick bool
	// refusal: a write the API server refused for good, for the next pass to report.
	refusal error
	wake    chan struct{}
}

// refreshEvery is how often a round of a class may begin.
func refreshEvery(c laneClass) time.Duration {
	if c == laneHead {
		return headRefreshEvery
	}
	return tailRefreshEvery
}

func (m *poolMemory) laneLocked(pool types.NamespacedName) *slowLane {
	l := m.lanes[pool]
	if l == nil {
		if m.lanes == nil {
			m.lanes = map[types.NamespacedName]*slowLane{}
		}
		l = &slowLane{wake: make(chan struct{}, 1)}
		m.lanes[pool] = l
	}
	return l
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
// they replace whatever the lane still held, since they were planned from a newer state. It
// reports whether a drainer must be started for the lane.
func (m *poolMemory) passEnds(pool types.NamespacedName, p *v1alpha1.LicensePool, writes []slowWrite, planned bool, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l == nil && len(writes) == 0 {
		return false
	}
	if l == nil {
		l = m.laneLocked(pool)
	}
	l.passing = false
	if planned {
		l.pool = p
		l.writes = make(map[types.UID]slowWrite, len(writes))
		l.count = [laneTail + 1]int{}
		l.queues[laneOther] = l.queues[laneOther][:0]
		for _, w := range writes {
			uid := w.orig.GetUID()
			l.writes[uid] = w
			l.count[w.class]++
			if w.class == laneOther {
				l.queues[laneOther] = append(l.queues[laneOther], uid)
			}
		}
		for c := laneHead; c <= laneTail; c++ {
			beginRound(l, c, writes, now)
		}
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	if l.running || len(l.writes) == 0 {
		return false
	}
	l.running = true
	return true
}

// beginRound begins a round of the class, over these writes, if one is due and the lane has
// writes of it.
func beginRound(l *slowLane, c laneClass, writes []slowWrite, now time.Time) {
	if !roundDue(l, c, now) {
		return
	}
	for _, w := range writes {
		if w.class == c {
			l.queues[c] = append(l.queues[c], w.orig.GetUID())
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
// the drainer), or that the lane is done: it has nothing left, and its drainer stops.
func (m *poolMemory) nextSlow(pool types.NamespacedName, now time.Time) (batch []statusWrite, p *v1alpha1.LicensePool, wait time.Duration, done bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lanes[pool]
	if l == nil {
		return nil, nil, 0, true
	}
	if l.passing {
		return nil, nil, time.Second, false
	}
	if roundDue(l, laneHead, now) || roundDue(l, laneTail, now) {
		// A round came due since the last pass: over the writes the lane holds.
		held := make([]slowWrite, 0, l.count[laneHead]+l.count[laneTail])
		for _, w := range l.writes {
			held = append(held, w)
		}
		slices.SortFunc(held, func(a, b slowWrite) int { return a.order - b.order })
		for c := laneHead; c <= laneTail; c++ {
			beginRound(l, c, held, now)
		}
	}
	if l.budget.at.IsZero() {
		l.budget = tokens{n: slowBurst, at: now}
	}
	l.budget.n = min(slowBurst, l.budget.n+now.Sub(l.budget.at).Seconds()*slowRate)
	l.budget.at = now
	n := min(int(l.budget.n), slowBurst-len(l.flying))
	for c := laneOther; c <= laneTail; c++ {
		q := &l.queues[c]
		for len(*q) > 0 && len(batch) < n {
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
			m.writes[uid] = ownWrite{rv: rvInFlight, at: now, obj: w.next.DeepCopyObject().(client.Object)}
		}
	}
	l.budget.n -= float64(len(batch))
	if len(batch) > 0 {
		return batch, l.pool, 0, false
	}
	pending, due := false, time.Time{}
	for c := laneOther; c <= laneTail; c++ {
		if len(l.queues[c]) > 0 {
			pending = true
		} else if c != laneOther && l.count[c] > 0 {
			due = earliest(due, l.began[c].Add(refreshEvery(c)))
		}
	}
	switch {
	case pending:
		return nil, nil, time.Duration((1 - l.budget.n) / slowRate * float64(time.Second)), false
	case !due.IsZero():
		return nil, nil, due.Sub(now), false
	}
	l.running = false
	return nil, nil, 0, true
}

// slowLanded takes in the answers to a batch of the lane's writes: each claimant's in-flight
// mark goes (a write that landed has already left its resourceVersion, see wrote), a newer
// write to it waiting in the lane is moved onto the answer, and a write that failed asks for a
// pass. It reports whether a pass is wanted now: the lane has nothing in flight, and something
// asked for one.
func (m *poolMemory) slowLanded(pool types.NamespacedName, batch []statusWrite, errs []error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range batch {
		if ow, ok := m.writes[w.orig.GetUID()]; ok && ow.rv == rvInFlight {
			dropKey(&m.writes, w.orig.GetUID())
		}
	}
	l := m.lanes[pool]
	if l == nil {
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
			l.kick = true
			if refusedForGood(errs[i]) && l.refusal == nil {
				l.refusal = errs[i]
				// The pass that reports it backs the pool off; nothing is retried hot.
				clear(l.writes)
				l.count = [laneTail + 1]int{}
			}
		case queued && rebase(&newer.statusWrite, w.next):
			l.writes[uid] = newer
			if waited {
				l.queues[c] = append(l.queues[c], uid)
			}
		case queued:
			delete(l.writes, uid)
			l.count[newer.class]--
		}
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	if len(l.flying) > 0 || !l.kick {
		return false
	}
	l.kick = false
	return true
}

// rebase moves a write planned from a claimant's state before one of our writes onto the
// state that write left (landed, the API server's answer), and reports whether it still
// changes anything. Its Events went with the write that landed: the transition is the same.
func rebase(w *statusWrite, landed client.Object) bool {
	next := landed.DeepCopyObject().(client.Object)
	switch n := next.(type) {
	case *v1alpha1.SharedSession:
		n.Status = *w.next.(*v1alpha1.SharedSession).Status.DeepCopy()
		if equality.Semantic.DeepEqual(n.Status, landed.(*v1alpha1.SharedSession).Status) {
			return false
		}
	case *v1alpha1.SeatAssignment:
		n.Status = *w.next.(*v1alpha1.SeatAssignment).Status.DeepCopy()
		if equality.Semantic.DeepEqual(n.Status, landed.(*v1alpha1.SeatAssignment).Status) {
			return false
		}
	default:
		return false
	}
	w.orig, w.next, w.notes = landed, next, nil
	return true
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

// laneWake is the channel that wakes the pool's drainer.
func (m *poolMemory) laneWake(pool types.NamespacedName) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.laneLocked(pool).wake
}

// stopDrain marks the pool's lane as having no drainer.
func (m *poolMemory) stopDrain(pool types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.lanes[pool]; l != nil {
		l.running = false
	}
}

// drain sends the writes of one pool's lane until it has none left. Unit tests drain inline
// (laneInline): what the pace allows now, then return.
func (r *PoolReconciler) drain(ctx context.Context, pool types.NamespacedName) {
	wake := r.memory.laneWake(pool)
	for {
		batch, p, wait, done := r.memory.nextSlow(pool, r.Clock.Now())
		if done {
			return
		}
		if len(batch) == 0 && r.laneInline {
			r.memory.stopDrain(pool)
			return
		}
		if len(batch) == 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				r.memory.stopDrain(pool)
				return
			case <-wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var landed []note
		for i, w := range batch {
			wg.Go(func() {
				if errs[i] = r.writeStatus(ctx, w); errs[i] == nil {
					mu.Lock()
					landed = append(landed, w.notes...)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		r.report(p, landed)
		for _, err := range errs {
			if err != nil {
				log.FromContext(ctx).V(1).Info("a write that moves no licence did not land; a pass plans it again", "reason", err.Error())
			}
		}
		if r.memory.slowLanded(pool, batch, errs) {
			r.kick(ctx, pool)
		}
	}
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
