package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// Event actions the metrics count.
const (
	actionEnd   = "End"
	actionGrant = "Grant"
)

// writeParallelism bounds the status writes one pool reconcile sends at once.
const writeParallelism = 16

// statusWrite is one claimant's status change: orig is the cached object (never modified),
// next a copy carrying the new status, and notes the events to record once it has landed.
type statusWrite struct {
	orig, next client.Object
	notes      []note
}

// note is an Event to record once the writes it reports have landed.
type note struct {
	obj                 client.Object
	typ, reason, action string
	text                string
}

// writePlan sorts the claimants' status changes into the ledger's order (see PoolReconciler).
type writePlan struct {
	// revoke: claimants that lose a licence, written before the ledger frees it.
	// checked: grants, and ends of sessions that held nothing (Rejected, NotEntitled, ...),
	// written after the pool's resourceVersion check, since they are decided on the ledger.
	revoke, checked, other []statusWrite
	remove                 []*v1alpha1.SharedSession
	// head and tail list updates that only move numbers, written when the pool's refresh of
	// them is due (see queueHead): head, positions in the first queueHead places; tail,
	// positions further back and the counts in waiting seats' messages.
	head, tail []statusWrite
	// announceAt is when the earliest held-back Waiting announcement is due (see
	// announceWaitAfter); zero if none.
	announceAt time.Time
}

func planWrites(seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession, res allocator.Result, now time.Time, waits *quietWaits) writePlan {
	var p writePlan
	add := func(bucket *[]statusWrite, orig, next client.Object, notes ...note) {
		*bucket = append(*bucket, statusWrite{orig: orig, next: next, notes: notes})
	}
	for i, s := range seats {
		st := seatStatus(s, res.Seats[i])
		if equality.Semantic.DeepEqual(st, s.Status) {
			continue
		}
		next := s.DeepCopy()
		next.Status = st
		was, is := s.Status.Phase == v1alpha1.SeatBound, st.Phase == v1alpha1.SeatBound
		switch {
		case was && !is:
			typ, reason := corev1.EventTypeWarning, "SeatRevoked"
			if st.Phase == v1alpha1.SeatDisabled {
				typ, reason = corev1.EventTypeNormal, "SeatDisabled"
			}
			add(&p.revoke, s, next, note{next, typ, reason, "Revoke", st.Message})
		case !was && is:
			add(&p.checked, s, next, note{next, corev1.EventTypeNormal, "SeatBound", "Bind", st.Message})
		case st.Reason != s.Status.Reason && st.Phase == v1alpha1.SeatPending:
			add(&p.other, s, next, note{next, corev1.EventTypeWarning, string(st.Reason), "Wait", st.Message})
		case st.Phase == v1alpha1.SeatPending && s.Status.Phase == v1alpha1.SeatPending && s.Generation == s.Status.ObservedGeneration:
			// Only the numbers in a waiting seat's message moved: like queue positions behind
			// the head, refreshed with the pool's tail rather than on every grant.
			add(&p.tail, s, next)
		default:
			add(&p.other, s, next)
		}
	}
	for i, s := range sessions {
		r := res.Sessions[i]
		if r.Delete {
			p.remove = append(p.remove, s)
			continue
		}
		st := sessionStatus(s, r)
		if equality.Semantic.DeepEqual(st, s.Status) {
			continue
		}
		if s.Status.Phase == "" && st.Phase != v1alpha1.SessionWaiting {
			waits.forget(s.UID)
		}
		next := s.DeepCopy()
		next.Status = st
		was, is := s.Status.Phase == v1alpha1.SessionActive, st.Phase == v1alpha1.SessionActive
		switch {
		case st.Phase == v1alpha1.SessionEnded && s.Status.Phase != v1alpha1.SessionEnded:
			// Ending is final. A holder's end frees a licence, so it goes before the ledger;
			// any other end is decided on the ledger, so it waits for the pool's check.
			typ := corev1.EventTypeWarning
			if st.EndReason == v1alpha1.EndTerminated {
				typ = corev1.EventTypeNormal
			}
			bucket := &p.checked
			if was {
				bucket = &p.revoke
			}
			add(bucket, s, next, note{next, typ, string(st.EndReason), actionEnd, st.Message})
		case was && !is:
			add(&p.revoke, s, next)
		case !was && is:
			add(&p.checked, s, next, note{next, corev1.EventTypeNormal, "Granted", actionGrant, st.Message})
		case st.Phase == v1alpha1.SessionWaiting && s.Status.Phase == "":
			if at, hold := waits.holdBack(s.UID, now); hold {
				p.announceAt = earliest(p.announceAt, at)
				continue
			}
			add(&p.other, s, next, note{next, corev1.EventTypeNormal, "Queued", "Queue", st.Message})
		case st.Phase == v1alpha1.SessionWaiting && s.Status.Phase == v1alpha1.SessionWaiting &&
			s.Generation == s.Status.ObservedGeneration && (st.QueuePosition != 1 || s.Status.QueuePosition == 1):
			// Only the position, or the queue's length, moved; a new head is written at once.
			if st.QueuePosition > queueHead && s.Status.QueuePosition > queueHead {
				add(&p.tail, s, next)
			} else {
				add(&p.head, s, next)
			}
		default:
			add(&p.other, s, next)
		}
	}
	return p
}

// writeClaimants patches the claimants' status in parallel, each with optimistic concurrency.
// The patch holds only what changed, so the holder's renewTime is never overwritten. A conflict
// on one write does not cancel the others: what lands stays landed, and the next pass redoes
// only what did not.
func (r *PoolReconciler) writeClaimants(ctx context.Context, pool *v1alpha1.LicensePool, writes []statusWrite) error {
	var g errgroup.Group
	g.SetLimit(writeParallelism)
	var mu sync.Mutex
	var landed []note
	for _, w := range writes {
		g.Go(func() error {
			patch := client.MergeFromWithOptions(w.orig, client.MergeFromWithOptimisticLock{})
			if err := r.Status().Patch(ctx, w.next, patch); err != nil {
				return fmt.Errorf("patch status of %T %s: %w", w.next, client.ObjectKeyFromObject(w.next), err)
			}
			r.echoes.wrote(w.orig.GetResourceVersion(), w.next, r.Clock.Now())
			mu.Lock()
			landed = append(landed, w.notes...)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	// What landed is recorded even when another write failed: the next pass redoes only the
	// failed ones, and would not report these again.
	r.record(pool, landed)
	return err
}

// writePoolStatus commits the ledger and usage to the pool. When nothing changed but grants are
// about to be written, it still sends the pool's resourceVersion, so that a decision made on a
// stale ledger fails with a conflict instead of granting.
func (r *PoolReconciler) writePoolStatus(ctx context.Context, pool *v1alpha1.LicensePool, res allocator.Result, capacity orderCapacity, uids holderUIDs, granting bool) error {
	st := poolStatus(pool, res, capacity, uids)
	if equality.Semantic.DeepEqual(st, pool.Status) {
		if !granting {
			return nil
		}
		check := []byte(fmt.Sprintf(`{"metadata":{"resourceVersion":%q}}`, pool.ResourceVersion))
		if err := r.Status().Patch(ctx, pool.DeepCopy(), client.RawPatch(types.MergePatchType, check)); err != nil {
			return fmt.Errorf("check ledger of pool %s: %w", client.ObjectKeyFromObject(pool), err)
		}
		return nil
	}
	next := pool.DeepCopy()
	next.Status = st
	if err := r.Status().Patch(ctx, next, client.MergeFromWithOptions(pool, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch status of pool %s: %w", client.ObjectKeyFromObject(pool), err)
	}
	r.echoes.wrote(pool.ResourceVersion, next, r.Clock.Now())
	r.record(next, poolEvents(pool, next))
	return nil
}

// poolEvents reports conditions that turned True.
func poolEvents(old, next *v1alpha1.LicensePool) []note {
	var evs []note
	for _, typ := range []string{v1alpha1.ConditionExpiringSoon, v1alpha1.ConditionExpired, v1alpha1.ConditionSeatsExhausted, v1alpha1.ConditionSessionsExhausted} {
		c := meta.FindStatusCondition(next.Status.Conditions, typ)
		if c == nil || c.Status != "True" || meta.IsStatusConditionTrue(old.Status.Conditions, typ) {
			continue
		}
		evs = append(evs, note{next, corev1.EventTypeWarning, typ, "Report", c.Message})
	}
	return evs
}

// ledgerAhead reports whether the pool's ledger names a claimant that exists but is not in the
// cache yet (another operator granted it after our cache last heard). Entries whose claimant is
// really gone are not "ahead": the allocator drops them. A holder the watch reported deleted
// (by UID) is gone; any other holder the cache does not show, or shows with another UID, is
// read from the API server.
func (r *PoolReconciler) ledgerAhead(ctx context.Context, pool *v1alpha1.LicensePool, uids holderUIDs) (bool, error) {
	if pool == nil || pool.Status.Ledger == nil {
		return false, nil
	}
	var missing []ledgerEntry
	for _, e := range r.unsure(pool.Status.Ledger.Seats, uids.seats) {
		e.obj = &v1alpha1.SeatAssignment{}
		missing = append(missing, e)
	}
	for _, e := range r.unsure(pool.Status.Ledger.Sessions, uids.sessions) {
		e.obj = &v1alpha1.SharedSession{}
		missing = append(missing, e)
	}
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

// ledgerEntry is a ledger holder to check against the API server.
type ledgerEntry struct {
	name string
	uid  types.UID
	obj  client.Object
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

// unsure lists the ledger's holders the cache cannot vouch for: missing from it, or there
// under another UID; except those the watch reported deleted.
func (r *PoolReconciler) unsure(l *v1alpha1.Grants, cached map[string]types.UID) []ledgerEntry {
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
		if (ok && (want == "" || want == uid)) || r.gone.has(want) {
			continue
		}
		out = append(out, ledgerEntry{name: n, uid: want})
	}
	return out
}

// writeThrottled writes updates that only move numbers if the pool's refresh of them is due
// (at most once per every); if it is not, it returns when it will be.
func (r *PoolReconciler) writeThrottled(ctx context.Context, key types.NamespacedName, pool *v1alpha1.LicensePool, writes []statusWrite, t *refresh, every time.Duration, now time.Time) (time.Time, error) {
	if len(writes) == 0 {
		return time.Time{}, nil
	}
	if due, at := t.due(key, now, every); !due {
		return at, nil
	}
	if err := r.writeClaimants(ctx, pool, writes); err != nil {
		return time.Time{}, err
	}
	t.written(key, now)
	return time.Time{}, nil
}

// deleteExpired deletes ended sessions past their retention, if they are still what was seen.
func (r *PoolReconciler) deleteExpired(ctx context.Context, sessions []*v1alpha1.SharedSession) error {
	for _, s := range sessions {
		uid, rv := s.UID, s.ResourceVersion
		err := r.Delete(ctx, s, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete ended session %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}

// record emits the notes as Events and counts each in the metrics. Notes of one kind (the same
// reason about the same kind of claimant of one pool) that land in one batch of writes become
// one Event: about the claimant when it is alone, else about the pool (the reconciled pool
// object when there is one, so that kubectl describe finds it by UID), naming the claimants.
// A pass that grants a hundred sessions then writes one Event, not a hundred, as it writes
// the ledger once for all of them.
func (r *PoolReconciler) record(pool *v1alpha1.LicensePool, notes []note) {
	type kind struct {
		typ, reason, action string
		gvk                 string
		pool                types.NamespacedName
	}
	var kinds []kind
	groups := map[kind][]note{}
	for _, e := range notes {
		countNote(e)
		k := kind{e.typ, e.reason, e.action, fmt.Sprintf("%T", e.obj), poolOf(e.obj)}
		if groups[k] == nil {
			kinds = append(kinds, k)
		}
		groups[k] = append(groups[k], e)
	}
	if r.Recorder == nil {
		return
	}
	for _, k := range kinds {
		g := groups[k]
		if len(g) == 1 {
			r.Recorder.Eventf(g[0].obj, nil, k.typ, k.reason, k.action, "%s", g[0].text)
			continue
		}
		regarding := pool
		if regarding == nil || client.ObjectKeyFromObject(regarding) != k.pool {
			regarding = &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Namespace: k.pool.Namespace, Name: k.pool.Name}}
		}
		r.Recorder.Eventf(regarding, nil, k.typ, k.reason, k.action, "%s", summarize(g))
	}
}

// poolOf is the pool a note's object belongs to (or is).
func poolOf(obj client.Object) types.NamespacedName {
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	switch c := obj.(type) {
	case *v1alpha1.SeatAssignment:
		key.Name = c.Spec.PoolName
	case *v1alpha1.SharedSession:
		key.Name = c.Spec.PoolName
	}
	return key
}

// noteLimit keeps a summary under the Events API's 1 KiB limit on a note.
const noteLimit = 900

// summarize is the note of an Event that stands for several: how many, of what, and their
// names, sorted, as far as they fit, e.g. "3 sessions of pool p: a, b, c".
func summarize(g []note) string {
	what := "sessions"
	if _, ok := g[0].obj.(*v1alpha1.SeatAssignment); ok {
		what = "seat assignments"
	}
	names := make([]string, len(g))
	for i, e := range g {
		names[i] = e.obj.GetName()
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s of pool %s: ", len(g), what, poolOf(g[0].obj).Name)
	for i, n := range names {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		if b.Len()+len(sep)+len(n) > noteLimit {
			fmt.Fprintf(&b, "%sand %d more", sep, len(names)-i)
			break
		}
		b.WriteString(sep + n)
	}
	return b.String()
}
