package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Queue positions cost a write per waiting session each time the queue moves, so a long queue
// would turn every grant into thousands of writes. The head of the queue, where a position
// means "you are next", is kept current on every pass; positions further back are refreshed
// at most once per tailRefreshEvery for each pool. A session's first status, and every change
// of phase, are always written at once.
const (
	queueHead        = 20
	tailRefreshEvery = 5 * time.Second
)

// tailRefresh remembers, per pool, when the positions behind the head were last written.
type tailRefresh struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// due reports whether the pool's tail positions may be written at now, and if not, when.
func (t *tailRefresh) due(pool types.NamespacedName, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.last[pool].Add(tailRefreshEvery)
	return !now.Before(next), next
}

// written records that the pool's tail positions were written at now.
func (t *tailRefresh) written(pool types.NamespacedName, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[types.NamespacedName]time.Time{}
	}
	t.last[pool] = now
}

// forget drops a pool that no longer exists.
func (t *tailRefresh) forget(pool types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, pool)
}
