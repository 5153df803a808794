package controllers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// # The ledger
//
// A pool's status.ledger lists who holds each limited kind of licence (seats, shared
// licences): each holder's name and, by name, its UID. A list is kept only while its limit is
// finite; an unlimited pool cannot be over-granted. This is the one description of how the
// ledger is kept; the README and the API's Ledger type point here.
//
// A pass applies the allocator's decision in this order (pool_apply.go):
//
//  1. claimants that lose a licence are written first (Pending, or Ended, which is final);
//  2. the pool's status, with the new ledger, is patched with optimistic concurrency on the
//     pool's resourceVersion. When nothing changed but someone is about to be granted, the
//     patch carries only the resourceVersion: it checks that the decision was made on the
//     newest ledger;
//  3. claimants that gain a licence, and sessions that end without having held one
//     (Rejected, NotEntitled, ...: decided on the ledger), are written, each with optimistic
//     concurrency on its own resourceVersion; then everything else.
//
// So a grant is in the ledger before it shows on a claimant, as the built-in ResourceQuota
// records usage before admitting an object, and the ledger never lists more than the limit. A
// second operator, or this one with a stale cache, fails step 2 with a conflict and decides
// again on fresh data. Only a limit that drops leaves a brief excess, which step 1 removes by
// taking back the newest grants.
//
// A session that takes several licences (spec.count = n) is recorded once per licence: as its
// name and as name/2 … name/n (v1alpha1.LedgerEntries; '/' never occurs in an object's name).
// So an entry is a licence, in one part as in many, and everything below that bounds entries
// bounds licences: the ledger never records more licences than the limit, and each part never
// more than its share of them. A session holds only when every one of its entries is
// recorded: the allocator treats one recorded in part (a pass cut short between two parts) as
// not holding, and drops the stray entries or records the rest when it grants the session
// again. An entry names its session for every check against the cache or the API server
// (uidsOf maps each entry to the session's UID, unsure reads the session by its name). With
// countBy Holder each Active session is still recorded in full, so the ledger may list more
// entries than the licences in use (a holder uses its largest count), never fewer.
//
// With overdraft (spec.overdraftSessions = K) the pool may grant up to K shared licences beyond
// its limit, so the list of shared licences has room for limit + K entries (ledgerRoom), and
// everything in this description that bounds entries by "the limit" bounds them by that room:
// the ledger never records more shared licences than the limit plus the overdraft allowed,
// however many writers, and each part never more than its share of that room.
//
// The cache may lag behind the ledger, so an entry is trusted over the cache:
//
//   - an entry whose claimant the cache does not show, or shows under another UID (deleted and
//     created again), is dropped only when the watch reported that UID deleted (poolMemory) or
//     a direct read finds it gone (ledgerAhead); otherwise the pass waits for the cache;
//   - a claimant deleted and created again under the same name is not the old entry's holder
//     (ledgerNames);
//   - a pass that starts a ledger, or takes licences back because capacity shrank, decides on
//     claimants and orders read from the API server (allocator.Result.NeedsFreshRead).

// # Promises
//
// Behind a long queue the ledger's write stands between a freed licence and the next grant: a
// release costs the ledger, then the grant, in series. So a pool promises its next licences
// ahead, and the grant then needs one write. status.ledger.promises lists the first sessions of
// the queue (at most promiseWindow, in the queue's order, one licence each), each with a token
// the session shows in status.promise. The k-th promise is due once k of the sessions the
// ledger lists as holders have freed their licences for good: the session is Ended (final), or
// the watch reported it deleted. A grant on a due promise is written at once, before the ledger
// records it: by the promise lane (promise_lane.go), which the watch's news of a freed licence
// wakes, or by a pass, whichever claims it first. Only pools that grant in the queue's order
// alone make promises (promising): no groups, caps per holder, overdraft, preemption, countBy
// Holder or whenExhausted Reject, and a ledger of one part.
//
// Why this cannot over-grant. Take any version of the ledger, with its holders H and its
// promises P1 … Pn. A session Active in fact is either a holder (granted on the ledger, or kept
// by it) or some Pk granted on its promise; Pk was due, so at least k of H had freed their
// licences, and such a holder never holds again. The promised sessions granted are at distinct
// places, so there are at most as many of them as freed holders: Active sessions ≤ |H| ≤ the
// room the ledger's writer checked. What keeps this true from one version to the next, every
// writer (with optimistic concurrency on the pool, as always) holds to:
//
//   - a promise is given to its session before the ledger names it: the session's status is
//     written with the token first (with any write a waiting session gets, by the slow lane's
//     promise class behind a long queue, or before the ledger in the pass), and a later ledger
//     names it. A token is a hash of the session's UID and the resourceVersion it was given
//     on, so it is never given twice;
//   - a grant on a promise is written with optimistic concurrency on the session, whose cached
//     status shows the token;
//   - a writer that drops d of the ledger's holders keeps a promise it does not turn into a
//     holder at most k − d places back if it was k places back: the holders it waits for are d
//     fewer, and so are those that freed. Any other promise the new ledger drops is taken from
//     its session first, with optimistic concurrency (its status is written without the token,
//     or, when the cache shows none, its resourceVersion is checked): a grant on it either
//     landed first (the writer's write fails, and it decides again) or can never land;
//   - a promised session already Active counts as a holder in every decision, and one whose
//     promise is due counts as one too, so the allocator grants it ahead of the queue and the
//     new ledger records it;
//   - a promise is due only while the pool's current limit covers it: one made before the
//     limit dropped waits for the queue like the others.
//
// A session deleted and created again under a promised name is another UID, and is not the one
// promised. A promised session the cache does not show is checked against the API server, as a
// holder is (ledgerAhead).
//
// The ledger may then lag behind the grants made on its promises (deferLedger): a pass that
// only records such grants, with at least promiseReserve promises left that can come due,
// leaves the pool's status to a pass at most promiseLedgerLag after the oldest grant it does
// not record (and promiseLedgerMaxLag after its last write), which records every grant made
// since in one write: a holder the ledger does not record frees no promise when it goes. Until
// then each hand-off is one write, the grant, and the Events of those grants wait for that
// write, so that they make one Event, not one each. New promises are named the same way, by a
// pass promiseLedgerLag after the one that gave them; but when the ledger would name fewer
// than promiseCover (holders granted together tend to end together, as a pool's first holders
// do), the slow lane asks for that pass as soon as they have landed.

// # Parts
//
// One object cannot hold every grant of a large pool: etcd refuses a request over its size limit
// (1.5 MiB by default, some 25,000 holders with their UIDs). So a list whose limit is larger
// than LedgerPartSize (2,048; the operator's Options.LedgerPartSize) is kept in parts: part 0 in
// the pool's status.ledger, part k (k ≥ 1) in the LicenseLedger "<pool>.ledger-<k>", owned by
// the pool. Pools within one part, as most are, keep the whole ledger in their status, exactly
// as above, and write no LicenseLedger.
//
// Each part owns a fixed share of the limit: part k may record at most
// min(max(limit − k×size, 0), size) holders of a kind (partQuota). The shares sum to the limit,
// and none falls when the limit rises. Every write of a part is made with optimistic
// concurrency on that part's resourceVersion (a new part is created, and a part created by
// someone else first fails as a conflict), and no write adds a holder to a part beyond its
// share. Hence:
//
//   - no part ever records more than its share under the limit its writer read, so all parts
//     together never record more than the largest limit any writer read: two operators, or one
//     with a stale cache, cannot over-grant, whichever parts each has cached, since a decision
//     on a stale part fails that part's write;
//   - a grant is still committed before it shows on the claimant: step 3 follows the writes
//     (and, for holders recorded earlier, the resourceVersion checks) of every part that
//     records a grant of the pass;
//   - the entries of one session (one per licence, above) are placed one by one, so they may
//     lie in several parts; the session's grant then rests on each of them (partsToCheck);
//   - a holder the decision keeps stays in its part; a new holder goes to the first part with
//     room (placeHolders). When the limit drops, holders of parts past their new share move to
//     parts with room: the parts that gain a holder are written first, those that only lose
//     (or, left with nothing, are deleted with a precondition) after, so a moved holder is for
//     a moment recorded twice, which is safe, and never nowhere. A holder recorded twice is
//     counted once and kept where it fits first;
//   - holders still in their grace period after a drop stay where they are: a part past its
//     share never gains anyone until it is back within it.
//
// The allocator sees the union of the parts: it decides as for one ledger.

// holderUIDs maps the ledger entries of a pool's cached claimants to their UIDs, to match them
// with the ledger: a seat's name, and each of a session's entries (v1alpha1.LedgerEntries).
type holderUIDs struct {
	seats, sessions map[string]types.UID
}

func uidsOf(seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession) holderUIDs {
	u := holderUIDs{seats: make(map[string]types.UID, len(seats)), sessions: make(map[string]types.UID, len(sessions))}
	for _, s := range seats {
		u.seats[s.Name] = s.UID
	}
	for _, s := range sessions {
		for _, e := range v1alpha1.LedgerEntries(s.Name, s.Spec.Count) {
			u.sessions[e] = s.UID
		}
	}
	return u
}

// ledgerNames are the ledger's holders as the allocator sees them: an entry whose claimant was
// deleted and created again under the same name (another UID) is not the new claimant's
// grant, so it is left out.
func ledgerNames(g *v1alpha1.Grants, cached map[string]types.UID) []string {
	recorded := g.RecordedUIDs()
	names := make([]string, 0, len(g.Holders))
	for i, n := range g.Holders {
		if uid, ok := cached[n]; ok && recorded != nil && recorded[i] != "" && recorded[i] != uid {
			continue
		}
		names = append(names, n)
	}
	return names
}

// nextLedger is the ledger to record after the allocator's decision; nil when no list is kept.
// A pool another controller manages keeps the ledger that controller wrote.
func nextLedger(pool *v1alpha1.LicensePool, res allocator.Result, uids holderUIDs) *v1alpha1.Ledger {
	if managedElsewhere(pool) {
		return pool.Status.Ledger
	}
	seats, sessions := res.SeatLedger, res.SessionLedger
	if seats == nil && sessions == nil {
		return nil
	}
	var old v1alpha1.Ledger
	if pool.Status.Ledger != nil {
		old = *pool.Status.Ledger
	}
	l := &v1alpha1.Ledger{}
	if seats != nil {
		l.Seats = ledgerGrants(seats, old.Seats, uids.seats)
	}
	if sessions != nil {
		l.Sessions = ledgerGrants(sessions, old.Sessions, uids.sessions)
	}
	return l
}

// ledgerGrants records the allocator's holders with their UIDs, from the cache or, for a
// holder the cache does not show, from the old ledger ("" when neither knows it).
func ledgerGrants(names []string, old *v1alpha1.Grants, cached map[string]types.UID) *v1alpha1.Grants {
	return grantsOf(names, recordedUIDs([]*v1alpha1.Grants{old}), cached)
}

// ledgerAhead reports whether the pool's ledger names a claimant that exists but is not in the
// cache yet (another operator granted it after our cache last heard). Entries whose claimant is
// really gone are not "ahead": the allocator drops them. A holder the watch reported deleted
// (by UID) is gone; any other holder the cache does not show, or shows with another UID, is
// read from the API server.
func (r *PoolReconciler) ledgerAhead(ctx context.Context, pool *v1alpha1.LicensePool, parts ledgerParts, uids holderUIDs) (bool, error) {
	if pool == nil {
		return false, nil
	}
	var missing []ledgerEntry
	checking := map[string]bool{}
	collect := func(lists []*v1alpha1.Grants, cached map[string]types.UID, kind string, obj func() client.Object) {
		for _, g := range lists {
			for _, e := range unsure(g, cached, r.memory.isDeleted) {
				if !checking[kind+"/"+e.name] {
					checking[kind+"/"+e.name] = true
					e.obj = obj()
					missing = append(missing, e)
				}
			}
		}
	}
	collect(parts.seats, uids.seats, "seat", func() client.Object { return &v1alpha1.SeatAssignment{} })
	collect(parts.sessions, uids.sessions, "session", func() client.Object { return &v1alpha1.SharedSession{} })
	if pool.Status.Ledger != nil {
		// A promised session the cache does not show is waited for as a holder is.
		for _, p := range pool.Status.Ledger.Promises {
			if uid, ok := uids.sessions[p.Name]; (ok && uid == p.UID) || r.memory.isDeleted(p.UID) || checking["session/"+p.Name] {
				continue
			}
			checking["session/"+p.Name] = true
			missing = append(missing, ledgerEntry{name: p.Name, uid: p.UID, obj: &v1alpha1.SharedSession{}})
		}
	}
	missing = r.memory.awaitDeletions(missing, deleteNewsWait)
	ahead := make([]bool, len(missing))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writeParallelism)
	for i, e := range missing {
		g.Go(func() error {
			err := r.APIReader.Get(gctx, types.NamespacedName{Namespace: pool.Namespace, Name: e.name}, e.obj)
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return fmt.Errorf("check ledger entry %s/%s: %w", pool.Namespace, e.name, err)
			}
			ahead[i] = (e.uid == "" || e.uid == e.obj.GetUID()) && stillHolds(e.obj, pool.Name)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	for _, a := range ahead {
		if a {
			return true, nil
		}
	}
	return false, nil
}

// ledgerEntry is a ledger holder to check against the API server: the claimant's name, for
// any of a session's entries.
type ledgerEntry struct {
	name string
	uid  types.UID
	obj  client.Object
}

// unsure lists the ledger's holders the cache cannot vouch for: missing from it, or there
// under another UID; except those the watch reported deleted.
func unsure(l *v1alpha1.Grants, cached map[string]types.UID, deleted func(types.UID) bool) []ledgerEntry {
	if l == nil {
		return nil
	}
	recorded := l.RecordedUIDs()
	var out []ledgerEntry
	for i, n := range l.Holders {
		var want types.UID
		if recorded != nil {
			want = recorded[i]
		}
		uid, ok := cached[n]
		if (ok && (want == "" || want == uid)) || deleted(want) {
			continue
		}
		out = append(out, ledgerEntry{name: v1alpha1.LedgerHolder(n), uid: want})
	}
	return out
}

// stillHolds reports whether a claimant read around the cache is one the pool's ledger may
// still rightly list: it names this pool (a claimant of that name recreated for another pool
// does not), and it is not being deleted, or is but still shows its licence (it must be
// written Ended or Pending, from the cache, before the licence moves on).
func stillHolds(obj client.Object, pool string) bool {
	switch c := obj.(type) {
	case *v1alpha1.SeatAssignment:
		return c.Spec.PoolName == pool && (c.DeletionTimestamp.IsZero() || c.Status.Phase == v1alpha1.SeatBound)
	case *v1alpha1.SharedSession:
		return c.Spec.PoolName == pool && (c.DeletionTimestamp.IsZero() || c.Status.Phase == v1alpha1.SessionActive)
	}
	return false
}
