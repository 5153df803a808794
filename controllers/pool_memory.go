package controllers

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// poolMemory is what the pool controller remembers between passes, for every pool: all of it
// small, none of it needed for a correct decision (a restarted operator starts with none), and
// all of it used to spare writes, reads and passes that would change nothing.
//
//   - Own writes in flight: the resourceVersion each status write of ours produced. The watch
//     event that brings it back starts no pass (the pass that wrote it decided on that state),
//     and a pass that finds the cache still behind one of them waits for it rather than decide
//     on older state, as controllers that keep "expectations" do.
//   - Deletions seen: the UIDs of claimants the watch reported deleted. A ledger entry whose
//     claimant the cache does not show is either deleted or granted by another replica after
//     this cache last heard; a deletion the watch delivered settles it without a read.
//   - Quiet waits: when each session that waits unannounced was first seen (announceWaitAfter).
//   - Throttled writes: when each pool's queue positions were last written (queueHead).
//   - Renewals from the future: a renewTime further ahead of the operator's clock than
//     renewSkew, and when the operator first saw it (renewedAt).
//   - Parts created: the LicenseLedgers of each pool we created and the cache does not show
//     yet (anyStale).
//   - Refusals: for each pool whose last write the API server refused for good, how often in
//     a row, and until when its passes back off (refusals.go).
//
// One mutex guards it all; no method calls out while holding it. Maps that empty are let go,
// since a Go map never shrinks and a burst of grants fills them with thousands of entries that
// are gone within milliseconds.
type poolMemory struct {
	mu        sync.Mutex
	writes    map[types.UID]ownWrite
	deleted   map[types.UID]time.Time
	swept     time.Time
	quiet     map[types.UID]time.Time
	refreshed map[refreshKey]time.Time
	renewals  map[types.UID]renewal
	lowWrites map[types.NamespacedName]tokens
	refusals  map[types.NamespacedName]refusal
	created   map[types.NamespacedName]map[types.UID]time.Time
}

// refusal is a run of refused writes of one pool: how many, and until when to back off.
type refusal struct {
	tries int
	until time.Time
}

// tokens is a pool's budget of writes that move no licence (lowPriorityWrites).
type tokens struct {
	n  float64
	at time.Time
}

// renewal is a renewTime written ahead of the operator's clock, and when the operator first saw it.
type renewal struct {
	at, seen time.Time
}

type ownWrite struct {
	rv string
	at time.Time
}

// refreshKey names one kind of throttled write (the head or the tail of the queue) of a pool.
type refreshKey struct {
	pool types.NamespacedName
	tail bool
}

// echoWait bounds how long a pass waits for the cache to bring back one of our writes; past
// it the write is taken as seen (its event may have been folded into a relist).
const echoWait = time.Second

// goneFor is how long a deletion is remembered: long enough for the pool's next passes to
// drop the ledger entry. Past it, the entry is checked with a read, as without the memory.
const goneFor = time.Minute

// A session that has to queue is told so (Waiting, its position, a Queued event) once it has
// waited announceWaitAfter; one granted sooner goes straight to Active. In a busy pool most
// waits are shorter than that, and each announcement is a write of its own: this spares one
// write and one event for most sessions that queue, at the cost of a blank phase for up to a
// second.
const announceWaitAfter = time.Second

// renewSkew is how far ahead of the operator's clock a session's renewTime may be and still
// count as written: clocks differ by a little. One further ahead (an agent whose clock runs an
// hour fast, a time typed by hand for 2099) counts from the moment the operator first saw it, so
// that a crashed agent's licence still comes back within one heartbeatTimeout.
const renewSkew = 2 * time.Second

// wrote records the object as written by us at now, if the write changed it (a write that
// changes nothing keeps the resourceVersion, and no event comes back).
func (m *poolMemory) wrote(before string, obj client.Object, now time.Time) {
	rv := obj.GetResourceVersion()
	if rv == "" || rv == before {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writes == nil {
		m.writes = map[types.UID]ownWrite{}
	}
	m.writes[obj.GetUID()] = ownWrite{rv, now}
}

// isEcho reports whether obj is exactly the state one of our writes produced. Either way the
// write is forgotten once any state of the object arrives after it: our writes carry the
// resourceVersion they were based on, which the cache had already delivered, so what comes
// next is the echo or newer (even when the echo outran the write's response). The exception
// is a write based on a fresh read the cache had not caught up with: an older event may then
// clear it, and the next pass, deciding on the older state, loses a conflict and retries.
func (m *poolMemory) isEcho(obj client.Object) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isEchoLocked(obj)
}

func (m *poolMemory) isEchoLocked(obj client.Object) bool {
	w, ok := m.writes[obj.GetUID()]
	if ok {
		dropKey(&m.writes, obj.GetUID())
	}
	return ok && w.rv == obj.GetResourceVersion()
}

// updated takes in an update the watch delivered, under one lock (heartbeats make it the
// busiest path): it notes a renewal from the future, forgets the quiet wait of a session now
// shown with a phase, and reports whether the update is the echo of our own write.
func (m *poolMemory) updated(obj client.Object, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sawRenewalLocked(obj, now)
	m.sawPhaseLocked(obj)
	return m.isEchoLocked(obj)
}

// behind reports whether the cache still shows one of these objects as it was before a write
// of ours that landed less than echoWait ago; see stale.
func (m *poolMemory) behind(now time.Time, pool *v1alpha1.LicensePool, seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession) bool {
	poolStale, claimants := m.stale(now, pool, seats, sessions)
	return poolStale || len(claimants) > 0
}

// stale reports which of these objects the cache still shows as they were before a write of
// ours that landed less than echoWait ago: the pool, and the claimants by UID (nil when none).
// Deciding on the older state of the pool, or writing a claimant from its older state, would
// send a write again or lose a conflict to ourselves; a pass waits for the cache instead, as
// controllers that keep "expectations" do, unless the claimant's write can wait for a later
// pass (writePlan.deferStale).
func (m *poolMemory) stale(now time.Time, pool *v1alpha1.LicensePool, seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession) (bool, map[types.UID]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.writes) == 0 {
		return false, nil
	}
	isStale := func(o client.Object) bool {
		w, ok := m.writes[o.GetUID()]
		return ok && w.rv != o.GetResourceVersion() && now.Sub(w.at) < echoWait
	}
	var claimants map[types.UID]bool
	note := func(o client.Object) {
		if isStale(o) {
			if claimants == nil {
				claimants = map[types.UID]bool{}
			}
			claimants[o.GetUID()] = true
		}
	}
	for _, s := range seats {
		note(s)
	}
	for _, s := range sessions {
		note(s)
	}
	return pool != nil && isStale(pool), claimants
}

// anyStale reports whether the cache still shows one of the pool's LicenseLedgers as it was
// before a write of ours that landed less than echoWait ago, or does not show yet one we
// created that recently: the ledger a pass would decide on is older than our own last write
// of it (see stale). A pass that missed a part would take its holders for claimants without a
// licence.
func (m *poolMemory) anyStale(now time.Time, pool types.NamespacedName, parts []*v1alpha1.LicenseLedger) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range parts {
		if w, ok := m.writes[o.GetUID()]; ok && w.rv != o.GetResourceVersion() && now.Sub(w.at) < echoWait {
			return true
		}
	}
	created := m.created[pool]
	for uid, at := range created {
		if now.Sub(at) >= echoWait || slices.ContainsFunc(parts, func(p *v1alpha1.LicenseLedger) bool { return p.UID == uid }) {
			delete(created, uid)
			continue
		}
		return true
	}
	if len(created) == 0 {
		dropKey(&m.created, pool)
	}
	return false
}

// createdPart remembers a LicenseLedger of the pool that we created, until the cache shows it.
func (m *poolMemory) createdPart(pool types.NamespacedName, part client.Object, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.created == nil {
		m.created = map[types.NamespacedName]map[types.UID]time.Time{}
	}
	if m.created[pool] == nil {
		m.created[pool] = map[types.UID]time.Time{}
	}
	m.created[pool][part.GetUID()] = now
}

// objectDeleted forgets what is known of a deleted object, and remembers a claimant's
// deletion for goneFor.
func (m *poolMemory) objectDeleted(obj client.Object, now time.Time) {
	uid := obj.GetUID()
	m.mu.Lock()
	defer m.mu.Unlock()
	dropKey(&m.writes, uid)
	dropKey(&m.quiet, uid)
	dropKey(&m.renewals, uid)
	switch obj.(type) {
	case *v1alpha1.SeatAssignment, *v1alpha1.SharedSession:
	default:
		return
	}
	if m.deleted == nil {
		m.deleted = map[types.UID]time.Time{}
	}
	m.deleted[uid] = now
	if now.Sub(m.swept) < goneFor/4 {
		return
	}
	m.swept = now
	for u, t := range m.deleted {
		if now.Sub(t) > goneFor {
			delete(m.deleted, u)
		}
	}
}

// isDeleted reports whether the claimant with this UID is known to be deleted.
func (m *poolMemory) isDeleted(uid types.UID) bool {
	if uid == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.deleted[uid]
	return ok
}

// waitingSince is when the operator first saw a session that waits unannounced.
func (m *poolMemory) waitingSince(uid types.UID) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.quiet[uid]
	return t, ok
}

// noteWaits applies a plan's quiet waits: the sessions first seen waiting at now, and those to
// forget (sawPhase forgets the others).
func (m *poolMemory) noteWaits(started, done []types.UID, now time.Time) {
	if len(started) == 0 && len(done) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, uid := range started {
		if m.quiet == nil {
			m.quiet = map[types.UID]time.Time{}
		}
		m.quiet[uid] = now
	}
	for _, uid := range done {
		dropKey(&m.quiet, uid)
	}
}

// sawRenewal records, for a session whose renewTime is ahead of now by more than renewSkew,
// that the operator saw that value at now (unless it saw it before); a renewTime that is not
// ahead forgets what was recorded.
func (m *poolMemory) sawRenewal(obj client.Object, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sawRenewalLocked(obj, now)
}

func (m *poolMemory) sawRenewalLocked(obj client.Object, now time.Time) {
	s, ok := obj.(*v1alpha1.SharedSession)
	if !ok || s.Status.RenewTime == nil {
		return
	}
	if !s.Status.RenewTime.After(now.Add(renewSkew)) {
		if m.renewals != nil {
			dropKey(&m.renewals, s.UID)
		}
		return
	}
	m.noteRenewal(s.UID, s.Status.RenewTime.Time, now)
}

// sawPhaseLocked forgets the quiet wait of a session the watch shows with a phase: its wait
// was announced, or it was granted or ended first.
func (m *poolMemory) sawPhaseLocked(obj client.Object) {
	s, ok := obj.(*v1alpha1.SharedSession)
	if ok && s.Status.Phase != "" && m.quiet != nil {
		dropKey(&m.quiet, s.UID)
	}
}

// noteRenewal records that a renewTime ahead of the clock was seen at now; m.mu is held.
func (m *poolMemory) noteRenewal(uid types.UID, at, now time.Time) time.Time {
	if r, ok := m.renewals[uid]; ok && r.at.Equal(at) {
		return r.seen
	}
	if m.renewals == nil {
		m.renewals = map[types.UID]renewal{}
	}
	m.renewals[uid] = renewal{at: at, seen: now}
	return now
}

// renewedAt gives, for each session whose renewTime is ahead of now by more than renewSkew,
// the moment to count it from instead: when the operator first saw that value, by the watch or,
// for one it has not seen change (written before it started, say), now. Sessions whose
// renewTime is not ahead, nearly all of them, are not in the map and cost no lock.
func (m *poolMemory) renewedAt(now time.Time, sessions []*v1alpha1.SharedSession) map[types.UID]time.Time {
	limit := now.Add(renewSkew)
	var out map[types.UID]time.Time
	for _, s := range sessions {
		if s.Status.RenewTime == nil || !s.Status.RenewTime.After(limit) || s.Status.Phase == v1alpha1.SessionEnded {
			continue
		}
		if out == nil {
			out = map[types.UID]time.Time{}
			m.mu.Lock()
			defer m.mu.Unlock()
		}
		out[s.UID] = m.noteRenewal(s.UID, s.Status.RenewTime.Time, now)
	}
	return out
}

// due reports whether a throttled kind of write of the pool may go out at now, at most once
// per every, and if not, when it may.
func (m *poolMemory) due(k refreshKey, now time.Time, every time.Duration) (bool, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.refreshed[k].Add(every)
	return !now.Before(next), next
}

// refreshedAt records that a throttled kind of write of the pool went out at now.
func (m *poolMemory) refreshedAt(k refreshKey, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refreshed == nil {
		m.refreshed = map[refreshKey]time.Time{}
	}
	m.refreshed[k] = now
}

// takeLowWrites takes up to want writes from the pool's budget of writes that move no licence,
// which refills at lowPriorityRate up to lowPriorityWrites, and returns how many it may send;
// when that is fewer than wanted, also when the budget has refilled enough for the next batch.
func (m *poolMemory) takeLowWrites(pool types.NamespacedName, now time.Time, want int) (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.lowWrites[pool]
	if !ok {
		b = tokens{n: lowPriorityWrites, at: now}
	}
	b.n = min(lowPriorityWrites, b.n+now.Sub(b.at).Seconds()*lowPriorityRate)
	b.at = now
	n := min(want, int(b.n))
	b.n -= float64(n)
	if m.lowWrites == nil {
		m.lowWrites = map[types.NamespacedName]tokens{}
	}
	m.lowWrites[pool] = b
	if n == want {
		return n, time.Time{}
	}
	batch := min(want-n, lowPriorityWrites)
	wait := time.Duration((float64(batch) - b.n) / lowPriorityRate * float64(time.Second))
	return n, now.Add(wait)
}

// poolGone forgets a pool that no longer exists and has no claimants.
func (m *poolMemory) poolGone(pool types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.lowWrites, pool)
	delete(m.refusals, pool)
	delete(m.created, pool)
	delete(m.refreshed, refreshKey{pool: pool})
	delete(m.refreshed, refreshKey{pool: pool, tail: true})
}

// refused notes a refused write of the pool and returns how long its passes back off: a
// second after the first refusal, doubling up to maxRefusalBackoff.
func (m *poolMemory) refused(pool types.NamespacedName, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refusals == nil {
		m.refusals = map[types.NamespacedName]refusal{}
	}
	f := m.refusals[pool]
	wait := refusalBackoff << min(f.tries, 16)
	wait = min(wait, maxRefusalBackoff)
	m.refusals[pool] = refusal{tries: f.tries + 1, until: now.Add(wait)}
	return wait
}

// backingOff is how long the pool's passes still back off after a refused write; zero if not.
func (m *poolMemory) backingOff(pool types.NamespacedName, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.refusals[pool]
	if !ok || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// accepted ends the pool's run of refusals: its writes land again. It reports whether there
// was one.
func (m *poolMemory) accepted(pool types.NamespacedName) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.refusals[pool]
	if ok {
		dropKey(&m.refusals, pool)
	}
	return ok
}

// dropKey deletes one entry, and lets the map go once it is empty.
func dropKey[K comparable, V any](m *map[K]V, k K) {
	delete(*m, k)
	if len(*m) == 0 {
		*m = nil
	}
}

// watchPredicate is the predicate on the pool controller's watches of pools and claimants: it
// drops the echoes of our own writes, notes when renewals from the future were seen, and
// remembers deletions (it lets them through). It must
// come first among a watch's predicates, so that it sees every update.
func (m *poolMemory) watchPredicate(now func() time.Time) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			m.sawRenewal(e.Object, now())
			return true
		},
		UpdateFunc: func(e event.UpdateEvent) bool { return !m.updated(e.ObjectNew, now()) },
		DeleteFunc: func(e event.DeleteEvent) bool {
			m.objectDeleted(e.Object, now())
			return true
		},
	}
}
