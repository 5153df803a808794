package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The pool controller remembers two things about its watches, both small and both only ever
// used to skip work that would change nothing:
//
//   - echoes: the resourceVersion each status write of its own produced. The watch event that
//     brings that write back says nothing the pass that wrote it did not already decide on, so
//     it starts no reconcile. A busy pool then spends its passes on releases and new sessions
//     instead of on its own echoes.
//   - gone: the UIDs of claimants the watch reported deleted. A ledger entry whose claimant the
//     cache does not show is either deleted or granted by another replica after this cache
//     last heard; a deletion the watch delivered settles it without asking the API server.

// echoes maps an object's UID to this operator's last write to it.
type echoes struct {
	mu  sync.Mutex
	rvs map[types.UID]ownWrite
}

type ownWrite struct {
	rv string
	at time.Time
}

// echoWait bounds how long a pass waits for the cache to bring back one of our writes; past
// it the write is taken as seen (its event may have been folded into a relist).
const echoWait = time.Second

// wrote records the object as written by us at now, if the write changed it (a write that
// changes nothing keeps the resourceVersion, and no event comes back).
func (e *echoes) wrote(before string, obj client.Object, now time.Time) {
	rv := obj.GetResourceVersion()
	if rv == "" || rv == before {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rvs == nil {
		e.rvs = map[types.UID]ownWrite{}
	}
	e.rvs[obj.GetUID()] = ownWrite{rv, now}
}

// isEcho reports whether obj is exactly the state one of our writes produced. Either way the
// write is forgotten once any state of the object arrives after it: our writes carry the
// resourceVersion they were based on, which the cache had already delivered, so what comes
// next is the echo or newer (even when the echo outran the write's response). The exception
// is a write based on a fresh read the cache had not caught up with: an older event may then
// clear it, and the next pass, deciding on the older state, loses a conflict and retries.
func (e *echoes) isEcho(obj client.Object) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.rvs[obj.GetUID()]
	if ok {
		e.drop(obj.GetUID())
	}
	return ok && w.rv == obj.GetResourceVersion()
}

// drop forgets one write; e.mu is held. A map never shrinks, and a burst of grants can fill
// this one with thousands of writes that all come back within milliseconds: once it is empty
// it is let go.
func (e *echoes) drop(uid types.UID) {
	delete(e.rvs, uid)
	if len(e.rvs) == 0 {
		e.rvs = nil
	}
}

// behind reports whether the cache still shows one of these objects as it was before a write
// of ours that landed less than echoWait ago. Deciding on that older state would send the
// write again, or lose a conflict to ourselves; the pass waits for the cache instead, as
// controllers that keep "expectations" do.
func (e *echoes) behind(now time.Time, pool *v1alpha1.LicensePool, seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.rvs) == 0 {
		return false
	}
	stale := func(o client.Object) bool {
		w, ok := e.rvs[o.GetUID()]
		return ok && w.rv != o.GetResourceVersion() && now.Sub(w.at) < echoWait
	}
	if pool != nil && stale(pool) {
		return true
	}
	for _, s := range seats {
		if stale(s) {
			return true
		}
	}
	for _, s := range sessions {
		if stale(s) {
			return true
		}
	}
	return false
}

// forget drops what is known of a deleted object.
func (e *echoes) forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.drop(uid)
}

// goneFor is how long a deletion is remembered: long enough for the pool's next passes to
// drop the ledger entry. Past it, the entry is checked with a read, as without the memory.
const goneFor = time.Minute

// gone remembers the UIDs of recently deleted claimants.
type gone struct {
	mu    sync.Mutex
	at    map[types.UID]time.Time
	swept time.Time
}

// deleted records that the watch reported the claimant with this UID deleted at now.
func (g *gone) deleted(uid types.UID, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.at == nil {
		g.at = map[types.UID]time.Time{}
	}
	g.at[uid] = now
	if now.Sub(g.swept) < goneFor/4 {
		return
	}
	g.swept = now
	for u, t := range g.at {
		if now.Sub(t) > goneFor {
			delete(g.at, u)
		}
	}
}

// has reports whether the claimant with this UID is known to be deleted.
func (g *gone) has(uid types.UID) bool {
	if uid == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.at[uid]
	return ok
}

// watchMemory is the predicate on the pool controller's watches of pools and claimants: it
// drops the echoes of our own writes, and remembers deletions (it lets them through). It must
// come first among a watch's predicates, so that it sees every update.
func (r *PoolReconciler) watchMemory() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool { return !r.echoes.isEcho(e.ObjectNew) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			r.echoes.forget(e.Object.GetUID())
			r.waits.forget(e.Object.GetUID())
			switch e.Object.(type) {
			case *v1alpha1.SeatAssignment, *v1alpha1.SharedSession:
				r.gone.deleted(e.Object.GetUID(), r.Clock.Now())
			}
			return true
		},
	}
}
