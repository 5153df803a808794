package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Queue positions cost a write per waiting session each time the queue moves, so a standing
// queue would turn every grant into a write for each waiter. A session that becomes the head
// of the queue (position 1: "you are next") is written at once; other moves of the first
// queueHead positions, and changes of the queue's length in their messages, are written at
// most once per headRefreshEvery for each pool, and positions further back at most once per
// tailRefreshEvery. A session's first status, and every change of phase, are written at once.
const (
	queueHead        = 20
	headRefreshEvery = time.Second
	tailRefreshEvery = 5 * time.Second
)

// refresh remembers, per pool, when one kind of throttled update was last written.
type refresh struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// due reports whether the pool's updates may be written at now, at most once per every, and
// if not, when.
func (t *refresh) due(pool types.NamespacedName, now time.Time, every time.Duration) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.last[pool].Add(every)
	return !now.Before(next), next
}

// written records that the pool's updates were written at now.
func (t *refresh) written(pool types.NamespacedName, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[types.NamespacedName]time.Time{}
	}
	t.last[pool] = now
}

// forget drops a pool that no longer exists.
func (t *refresh) forget(pool types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, pool)
}

// A session that has to queue is told so (Waiting, its position, a Queued event) once it has
// waited announceWaitAfter; one granted sooner goes straight to Active. In a busy pool most
// waits are shorter than that, and each announcement is a write of its own: this spares one
// write and one event for most sessions that queue, at the cost of a blank phase for up to a
// second.
const announceWaitAfter = time.Second

// quietWaits remembers when the operator first saw each session that waits unannounced.
type quietWaits struct {
	mu   sync.Mutex
	seen map[types.UID]time.Time
}

// holdBack reports whether the session's Waiting announcement should wait, and until when.
func (q *quietWaits) holdBack(uid types.UID, now time.Time) (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	first, ok := q.seen[uid]
	if !ok {
		if q.seen == nil {
			q.seen = map[types.UID]time.Time{}
		}
		q.seen[uid], first = now, now
	}
	at := first.Add(announceWaitAfter)
	if now.Before(at) {
		return at, true
	}
	q.drop(uid)
	return time.Time{}, false
}

// drop forgets one session; q.mu is held. An empty map is let go (maps never shrink).
func (q *quietWaits) drop(uid types.UID) {
	delete(q.seen, uid)
	if len(q.seen) == 0 {
		q.seen = nil
	}
}

// forget drops a session that was granted, ended or deleted before its wait was announced.
func (q *quietWaits) forget(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.drop(uid)
}
