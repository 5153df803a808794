package controllers

import (
	"maps"
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
//   - Own writes in flight: the resourceVersion each status write of ours produced, and the
//     API server's answer. The watch event that brings it back starts no pass (the pass that
//     wrote it decided on that state), and a pass that finds the cache still behind one of them
//     decides on the answer rather than on older state (catchUp), as controllers that keep
//     "expectations" would wait for it. A write of the slow lane is marked from when it is sent.
//   - Deletions seen: the UIDs of claimants the watch reported deleted. A ledger entry whose
//     claimant the cache does not show is either deleted or granted by another replica after
//     this cache last heard; a deletion the watch delivered settles it without a read.
//   - Quiet waits: when each session that waits unannounced was first seen (announceWaitAfter).
//   - Slow lanes: each pool's writes that move no licence, waiting to be sent between passes,
//     and when its queue positions were last written (slow_lane.go).
//   - Renewals from the future: a renewTime further ahead of the operator's clock than
//     renewSkew, and when the operator first saw it (renewedAt).
//   - Parts created: the LicenseLedgers of each pool we created and the cache does not show
//     yet (catchUp).
//   - Ledger writes: when each pool's status was last written, for the grants on a promise
//     that may go before it (promiseLedgerLag).
//   - Refusals: for each pool whose last write the API server refused for good, how often in
//     a row, and until when its passes back off (refusals.go).
//
// One mutex guards it all; no method calls out while holding it. Maps that empty are let go,
// since a Go map never shrinks and a burst of grants fills them with thousands of entries that
// are gone within milliseconds.
type poolMemory struct {
	mu     sync.Mutex
	writes map[types.UID]ownWrite
	// writesSwept: when writes was last cleared of entries past echoWait; swept, deleted.
	writesSwept time.Time
	deleted     map[types.UID]time.Time
	swept       time.Time
	// deletions is closed at the next deletion the watch reports, for awaitDeletions (nil
	// while nobody waits).
	deletions chan struct{}
	quiet     map[types.UID]time.Time
	renewals  map[types.UID]renewal
	lanes     map[types.NamespacedName]*slowLane
	refusals  map[types.NamespacedName]refusal
	created   map[types.NamespacedName]map[types.UID]time.Time
	// ledgerAt: when each pool's status (its ledger) was last written by us.
	ledgerAt map[types.NamespacedName]time.Time
	// promising: the sessions whose grant on a promise a pass or the promise lane is writing;
	// landedFrom: the state (resourceVersion) each grant on a promise that landed within
	// echoWait was planned on; heldNotes: the Events of grants on a promise that landed, until
	// the pool's status (with the ledger that records them) is next written; readyNotes: those
	// the ledger records, until the pool's next Event of them is due; notedAt: when the last
	// one was recorded (see promiseEventsEvery).
	promising  map[types.UID]bool
	landedFrom map[types.UID]landedGrant
	heldNotes  map[types.NamespacedName][]note
	readyNotes map[types.NamespacedName][]note
	notedAt    map[types.NamespacedName]time.Time
}

// landedGrant is the state a grant on a promise was planned on, and when it landed.
type landedGrant struct {
	before string
	at     time.Time
}

// refusal is a run of refused writes of one pool: how many, and until when to back off.
type refusal struct {
	tries int
	until time.Time
}

// tokens is a pool's budget of writes that move no licence (slowBurst).
type tokens struct {
	n  float64
	at time.Time
}

// renewal is a renewTime written ahead of the operator's clock, and when the operator first saw it.
type renewal struct {
	at, seen time.Time
}

// ownWrite is a write of ours: the resourceVersion it was based on (before) and the one it
// produced (rv; rvInFlight while the slow lane waits for its answer), when, and the object as
// the API server answered it (see catchUp), or, in flight, as it will be written. echoRV: the
// resourceVersion of the echo that outran the answer of a write in flight.
type ownWrite struct {
	before, rv string
	echoRV     string
	at         time.Time
	obj        client.Object
	// chained: the write was based on the answer to an earlier write of ours (before is the
	// rv that one produced), whose echo may still be on its way.
	chained bool
}

// rvInFlight marks a write of the slow lane not answered yet: no resourceVersion is empty.
const rvInFlight = ""

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
	prev, had := m.writes[obj.GetUID()]
	chained := had && prev.rv == before && prev.rv != rvInFlight
	m.writes[obj.GetUID()] = ownWrite{before: before, rv: rv, at: now, obj: obj, chained: chained}
	if now.Sub(m.writesSwept) < echoWait {
		return
	}
	// An echo that outran its answer left the answer here; past echoWait nothing reads it.
	m.writesSwept = now
	for uid, w := range m.writes {
		if now.Sub(w.at) >= echoWait {
			delete(m.writes, uid)
		}
	}
}

// isEcho reports whether obj is exactly the state one of our writes produced. Either way the
// write is forgotten once any state of the object arrives after it: our writes carry the
// resourceVersion they were based on, which the cache had already delivered, so what comes
// next is the echo or newer (even when the echo outran the write's response), or the very state
// the write was based on, when that came from an earlier write's answer (catchUp) and its echo
// arrives late: that keeps the memory. The exception is a write based on a fresh read the cache
// had not caught up with: an older event may then clear it, and the next pass, deciding on the
// older state, loses a conflict and retries.
func (m *poolMemory) isEcho(obj client.Object) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isEchoLocked(obj)
}

func (m *poolMemory) isEchoLocked(obj client.Object) bool {
	w, ok := m.writes[obj.GetUID()]
	if !ok {
		return false
	}
	if w.rv == rvInFlight {
		// The echo of a write of the slow lane may outrun its answer: it is the first state
		// after the one the write was based on, and shows what the write sends. The mark stays
		// until the answer (slowLanded); any later state starts a pass.
		if w.echoRV == "" && w.obj != nil && obj.GetResourceVersion() != w.before && sameWrite(w.obj, obj) {
			w.echoRV = obj.GetResourceVersion()
			m.writes[obj.GetUID()] = w
			return true
		}
		return w.echoRV == obj.GetResourceVersion()
	}
	if w.chained && obj.GetResourceVersion() == w.before {
		// The state our write replaced, arriving after its answer: the echo of the earlier
		// write of ours that this one was planned on (catchUp). It is old news; the memory
		// stays for the echo still to come, or the next pass would decide on this state and
		// lose a conflict to ourselves.
		return true
	}
	dropKey(&m.writes, obj.GetUID())
	return w.rv == obj.GetResourceVersion()
}

// sameWrite reports whether got is what a write of the slow lane (want) sends: the same
// generation, metadata and deletion, and the phase, place, reason, message and preemptor it
// writes. Times are left out: the API server keeps them to the second.
func sameWrite(want, got client.Object) bool {
	if want.GetGeneration() != got.GetGeneration() || !want.GetDeletionTimestamp().Equal(got.GetDeletionTimestamp()) ||
		!maps.Equal(want.GetLabels(), got.GetLabels()) || !maps.Equal(want.GetAnnotations(), got.GetAnnotations()) ||
		!slices.Equal(want.GetFinalizers(), got.GetFinalizers()) {
		return false
	}
	switch x := want.(type) {
	case *v1alpha1.SharedSession:
		y, ok := got.(*v1alpha1.SharedSession)
		return ok && x.Status.Phase == y.Status.Phase && x.Status.QueuePosition == y.Status.QueuePosition &&
			x.Status.Message == y.Status.Message && x.Status.PreemptedBy == y.Status.PreemptedBy &&
			x.Status.ObservedGeneration == y.Status.ObservedGeneration && len(x.Status.Conditions) == len(y.Status.Conditions)
	case *v1alpha1.SeatAssignment:
		y, ok := got.(*v1alpha1.SeatAssignment)
		return ok && x.Status.Phase == y.Status.Phase && x.Status.Reason == y.Status.Reason &&
			x.Status.Message == y.Status.Message && x.Status.ObservedGeneration == y.Status.ObservedGeneration &&
			len(x.Status.Conditions) == len(y.Status.Conditions)
	}
	return false
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

// catchUp brings the snapshot up to our own writes. Where the cache still shows an object (the
// pool, a part of its ledger, a claimant) exactly as it was before a write of ours that landed
// less than echoWait ago, the snapshot takes the object as that write left it: the API server's
// answer to it, which the echo will bring to the cache in a few milliseconds. Deciding on the
// older state would send a write again, or lose a conflict to ourselves; waiting for the echo
// would put its latency in front of the next grant. Claimants whose write of the slow lane is
// still in flight have no answer yet: they are returned (nil when none), and none of their
// writes may go out from this snapshot. It also reports whether a part we created is not
// cached yet: a pass that missed it would take its holders for claimants without a licence.
func (m *poolMemory) catchUp(now time.Time, s *snapshot) (writing map[types.UID]bool, partsBehind bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	partsBehind = m.partsBehindLocked(now, s.key, s.partObjs)
	if len(m.writes) == 0 {
		return nil, partsBehind
	}
	// newer is the object as our write left it, if the cache shows it from before.
	newer := func(o client.Object) (client.Object, bool) {
		w, ok := m.writes[o.GetUID()]
		switch {
		case !ok || now.Sub(w.at) >= echoWait:
			return nil, false
		case w.rv == rvInFlight:
			if writing == nil {
				writing = map[types.UID]bool{}
			}
			writing[o.GetUID()] = true
			return nil, false
		case w.before != o.GetResourceVersion() || w.obj == nil:
			// The cache shows our write, or a state newer than it: it is taken as it is.
			return nil, false
		}
		return w.obj, true
	}
	if s.pool != nil {
		if o, ok := newer(s.pool); ok {
			s.pool = o.(*v1alpha1.LicensePool)
		}
	}
	for i, p := range s.partObjs {
		if o, ok := newer(p); ok {
			s.partObjs[i] = o.(*v1alpha1.LicenseLedger)
		}
	}
	for i, c := range s.seats {
		if o, ok := newer(c); ok {
			s.seats[i] = o.(*v1alpha1.SeatAssignment)
		}
	}
	for i, c := range s.sessions {
		if o, ok := newer(c); ok {
			s.sessions[i] = o.(*v1alpha1.SharedSession)
		}
	}
	return writing, partsBehind
}

// partsBehindLocked reports whether the cache does not show yet a LicenseLedger of the pool
// that we created less than echoWait ago, and forgets those it shows.
func (m *poolMemory) partsBehindLocked(now time.Time, pool types.NamespacedName, parts []*v1alpha1.LicenseLedger) bool {
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
	if m.deletions != nil {
		close(m.deletions)
		m.deletions = nil
	}
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

// deleteNewsWait bounds how long ledgerAhead waits for the watch to report deleted the ledger's
// holders that the cache no longer shows, before it reads them from the API server. The
// informer takes a deleted object out of the cache before its handlers report the deletion,
// so a snapshot read in between misses a holder that nobody has said is gone: two holders
// released together did it ten times a hand-off run, and the word came 0.1 to 1.4 ms after the
// read. Reading the holder instead is a round trip in front of the next grant, several
// milliseconds when the API server is busy.
const deleteNewsWait = 2 * time.Millisecond

// awaitDeletions waits, at most max, until the watch has reported deleted the claimant of each
// entry that has a UID, and returns the entries it has not reported.
func (m *poolMemory) awaitDeletions(entries []ledgerEntry, max time.Duration) []ledgerEntry {
	if len(entries) == 0 {
		return nil // the common case, on every snapshot: no lock taken
	}
	var timeout <-chan time.Time
	for {
		m.mu.Lock()
		var left []ledgerEntry
		waitable := false
		for _, e := range entries {
			if _, gone := m.deleted[e.uid]; e.uid == "" || !gone {
				left = append(left, e)
				waitable = waitable || e.uid != ""
			}
		}
		if !waitable {
			m.mu.Unlock()
			return left
		}
		if m.deletions == nil {
			m.deletions = make(chan struct{})
		}
		news := m.deletions
		m.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(max)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-news:
			entries = left
		case <-timeout:
			return left
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

// waitsOf is when the operator first saw each of a pass's sessions that waits unannounced,
// read under one lock: a pass behind hundreds of unannounced waits asks for each, and taking
// the memory's lock for each, against the watch's handlers and the lanes, cost it tens of
// milliseconds on two busy cores.
func (m *poolMemory) waitsOf(sessions []*v1alpha1.SharedSession) func(types.UID) (time.Time, bool) {
	m.mu.Lock()
	quiet := make(map[types.UID]time.Time, min(len(m.quiet), len(sessions)))
	if len(m.quiet) > 0 {
		for _, s := range sessions {
			if t, ok := m.quiet[s.UID]; ok {
				quiet[s.UID] = t
			}
		}
	}
	m.mu.Unlock()
	return func(uid types.UID) (time.Time, bool) {
		t, ok := quiet[uid]
		return t, ok
	}
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

// poolGone forgets a pool that no longer exists and has no claimants.
func (m *poolMemory) poolGone(pool types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.lanes, pool)
	delete(m.refusals, pool)
	delete(m.created, pool)
	delete(m.ledgerAt, pool)
	delete(m.heldNotes, pool)
	delete(m.readyNotes, pool)
	delete(m.notedAt, pool)
}

// claimPromised returns the grants on a promise that no pass nor the promise lane is writing,
// and marks them as being written (promise_lane.go). A grant planned on the state of the
// session that a grant of ours replaced is left out too: it was decided while that grant was in
// flight, saw it as still to make, and would only fail on the session's resourceVersion. (The
// memory of our writes cannot tell: the grant's echo may have reached the cache, and cleared
// it, by the time the decision claims.)
func (m *poolMemory) claimPromised(ws []statusWrite) []statusWrite {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []statusWrite
	for _, w := range ws {
		uid := w.orig.GetUID()
		if m.promising[uid] {
			continue
		}
		if g, ok := m.landedFrom[uid]; ok && g.before == w.orig.GetResourceVersion() {
			continue
		}
		if m.promising == nil {
			m.promising = map[types.UID]bool{}
		}
		m.promising[uid] = true
		out = append(out, w)
	}
	return out
}

// unclaimPromised lets go of grants claimPromised returned, once answered, and remembers for
// echoWait the state those that landed were planned on (at now).
func (m *poolMemory) unclaimPromised(ws, landed []statusWrite, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range ws {
		delete(m.promising, w.orig.GetUID())
	}
	dropEmpty(&m.promising)
	for uid, g := range m.landedFrom {
		if now.Sub(g.at) >= echoWait {
			delete(m.landedFrom, uid)
		}
	}
	for _, w := range landed {
		if m.landedFrom == nil {
			m.landedFrom = map[types.UID]landedGrant{}
		}
		m.landedFrom[w.orig.GetUID()] = landedGrant{before: w.orig.GetResourceVersion(), at: now}
	}
	dropEmpty(&m.landedFrom)
}

// holdNotes keeps the Events of grants on a promise for the pool's next status write.
func (m *poolMemory) holdNotes(pool types.NamespacedName, notes []note) {
	if len(notes) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heldNotes == nil {
		m.heldNotes = map[types.NamespacedName][]note{}
	}
	m.heldNotes[pool] = append(m.heldNotes[pool], notes...)
}

// notesRecorded moves the Events held for the pool to those the ledger records: the pool's
// status, with its ledger, has been written.
func (m *poolMemory) notesRecorded(pool types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.heldNotes[pool]
	if len(n) == 0 {
		return
	}
	delete(m.heldNotes, pool)
	dropEmpty(&m.heldNotes)
	if m.readyNotes == nil {
		m.readyNotes = map[types.NamespacedName][]note{}
	}
	m.readyNotes[pool] = append(m.readyNotes[pool], n...)
}

// dueNotes returns, and forgets, the Events of the pool's grants on a promise that the ledger
// records, once they are due at now (notesDueAt).
func (m *poolMemory) dueNotes(pool types.NamespacedName, now time.Time) []note {
	m.mu.Lock()
	defer m.mu.Unlock()
	if due := m.notesDueLocked(pool); due.IsZero() || now.Before(due) {
		return nil
	}
	n := m.readyNotes[pool]
	delete(m.readyNotes, pool)
	dropEmpty(&m.readyNotes)
	if m.notedAt == nil {
		m.notedAt = map[types.NamespacedName]time.Time{}
	}
	m.notedAt[pool] = now
	return n
}

// notesDueAt is when the Events of the pool's grants on a promise that the ledger records are
// due: promiseEventsEvery after the last of them was recorded; zero when there are none.
func (m *poolMemory) notesDueAt(pool types.NamespacedName) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.notesDueLocked(pool)
}

func (m *poolMemory) notesDueLocked(pool types.NamespacedName) time.Time {
	if len(m.readyNotes[pool]) == 0 {
		return time.Time{}
	}
	if at, ok := m.notedAt[pool]; ok {
		return at.Add(promiseEventsEvery)
	}
	return time.Unix(0, 0) // none recorded yet: due at once
}

// wroteLedger notes that the pool's status, with its ledger, was written at now.
func (m *poolMemory) wroteLedger(pool types.NamespacedName, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ledgerAt == nil {
		m.ledgerAt = map[types.NamespacedName]time.Time{}
	}
	m.ledgerAt[pool] = now
}

// ledgerWrittenAt is when the pool's status was last written by us; zero if not since start.
func (m *poolMemory) ledgerWrittenAt(pool types.NamespacedName) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ledgerAt[pool]
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
