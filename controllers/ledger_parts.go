package controllers

import (
	"fmt"
	"hash/fnv"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// The ledger's parts: how a pool's ledger grows past what one object holds. See "Parts" in
// ledger.go for the protocol and why it cannot over-grant; this file is its pure half.

// ledgerRoom is how many entries a list may record: its limit, plus the licences the pool may
// grant beyond it (Usage.Overdraft, for shared licences); nil when the limit is.
func ledgerRoom(limit *int32, overdraft int32) *int32 {
	if limit == nil {
		return nil
	}
	return ptr.To(*limit + max(overdraft, 0))
}

// partQuota is how many holders part k of a list may record under limit (its room: see
// ledgerRoom): the parts fill in order, each up to size, so part k's quota never falls when
// the limit rises.
func partQuota(limit int32, k, size int) int {
	return min(max(int(limit)-k*size, 0), size)
}

// partsFor is how many parts a list needs under limit: one at least.
func partsFor(limit int32, size int) int {
	return max(1, (int(limit)+size-1)/size)
}

// partName is the name of the LicenseLedger holding part k (k ≥ 1) of the pool's ledger. A
// pool name too long to take the suffix is shortened, with a hash of it to keep it unique.
func partName(pool string, k int) string {
	suffix := fmt.Sprintf(".ledger-%d", k)
	if len(pool)+len(suffix) <= 253 {
		return pool + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(pool))
	return fmt.Sprintf("%s-%08x%s", pool[:253-len(suffix)-9], h.Sum32(), suffix)
}

// ledgerParts is a pool's ledger as it is kept, by part: part 0 is the pool's status.ledger,
// part k (k ≥ 1) the LicenseLedger objs[k] (nil where none exists).
type ledgerParts struct {
	seats, sessions []*v1alpha1.Grants
	objs            []*v1alpha1.LicenseLedger
}

// readParts gathers the pool's ledger from its status and its LicenseLedgers.
func readParts(pool *v1alpha1.LicensePool, objs []*v1alpha1.LicenseLedger) ledgerParts {
	n := 1
	for _, o := range objs {
		n = max(n, int(o.Spec.Part)+1)
	}
	l := ledgerParts{seats: make([]*v1alpha1.Grants, n), sessions: make([]*v1alpha1.Grants, n), objs: make([]*v1alpha1.LicenseLedger, n)}
	if pool != nil && pool.Status.Ledger != nil {
		l.seats[0], l.sessions[0] = pool.Status.Ledger.Seats, pool.Status.Ledger.Sessions
	}
	for _, o := range objs {
		if k := int(o.Spec.Part); k >= 1 && l.objs[k] == nil {
			l.objs[k] = o
			l.seats[k], l.sessions[k] = o.Status.Seats, o.Status.Sessions
		}
	}
	return l
}

// single reports whether the whole ledger is in the pool's status, as for every pool whose
// limits fit in one part.
func (l ledgerParts) single() bool {
	for _, o := range l.objs {
		if o != nil {
			return false
		}
	}
	return true
}

// names are the holders all parts record for one kind, as the allocator sees them (see
// ledgerNames), each once; nil when no part keeps a list.
func partNames(parts []*v1alpha1.Grants, cached map[string]types.UID) []string {
	if len(parts) == 1 {
		if parts[0] == nil {
			return nil
		}
		return ledgerNames(parts[0], cached)
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range parts {
		if g == nil {
			continue
		}
		if out == nil {
			out = []string{}
		}
		for _, n := range ledgerNames(g, cached) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// recordedUIDs maps every holder the parts record to its UID, where they record one.
func recordedUIDs(parts []*v1alpha1.Grants) map[string]types.UID {
	out := map[string]types.UID{}
	for _, g := range parts {
		if g == nil {
			continue
		}
		if uids := g.RecordedUIDs(); uids != nil {
			for i, n := range g.Holders {
				if _, ok := out[n]; !ok && uids[i] != "" {
					out[n] = uids[i]
				}
			}
		}
	}
	return out
}

// placeHolders lays one kind's holders, as the allocator decided them, out over the parts
// under limit, the list's room (ledgerRoom). A holder stays in the part that records it while
// that part is within its quota; the others, and new holders, go to the first part with room.
// A holder that finds no room (a limit that dropped under holders still in their grace period)
// stays where it is: a part past its quota never gains anyone. It returns the new parts (nil
// where a part keeps no list) and whether each gains a holder it did not record; a new holder
// with no room at all is an error, since the allocator never grants past the limit and the
// overdraft it allows.
func placeHolders(old []*v1alpha1.Grants, holders []string, limit *int32, size int, cached map[string]types.UID) ([]*v1alpha1.Grants, []bool, error) {
	if holders == nil || limit == nil {
		return make([]*v1alpha1.Grants, len(old)), make([]bool, len(old)), nil
	}
	n := max(len(old), partsFor(*limit, size))
	want := make(map[string]bool, len(holders))
	for _, h := range holders {
		want[h] = true
	}
	names := make([][]string, n)
	placed := make(map[string]int, len(holders))
	for k, g := range old {
		if g == nil {
			continue
		}
		for _, h := range g.Holders {
			if _, done := placed[h]; want[h] && !done && len(names[k]) < partQuota(*limit, k, size) {
				names[k] = append(names[k], h)
				placed[h] = k
			}
		}
	}
	wasIn := map[string]int{}
	for k := len(old) - 1; k >= 0; k-- {
		if old[k] != nil {
			for _, h := range old[k].Holders {
				wasIn[h] = k
			}
		}
	}
	// A holder placed below is a gain for its part: had the part recorded it, the loop above
	// would have kept it there, since a part full then has no room later either.
	gains := make([]bool, n)
	k := 0
	for _, h := range holders {
		if _, done := placed[h]; done {
			continue
		}
		for k < n && len(names[k]) >= partQuota(*limit, k, size) {
			k++
		}
		switch at, recorded := wasIn[h]; {
		case k < n:
			names[k] = append(names[k], h)
			placed[h] = k
			gains[k] = true
		case recorded:
			names[at] = append(names[at], h)
			placed[h] = at
		default:
			return nil, nil, fmt.Errorf("ledger: no part has room for %s under a limit of %d", h, *limit)
		}
	}
	before := recordedUIDs(old)
	parts := make([]*v1alpha1.Grants, n)
	for k := range n {
		if len(names[k]) == 0 && k >= partsFor(*limit, size) {
			continue
		}
		slices.Sort(names[k])
		parts[k] = grantsOf(names[k], before, cached)
	}
	return parts, gains, nil
}

// grantsOf records names with their UIDs: from the cache or, for a holder the cache does not
// show, as the ledger recorded it ("" when neither knows it).
func grantsOf(names []string, before, cached map[string]types.UID) *v1alpha1.Grants {
	g := &v1alpha1.Grants{Holders: names}
	if len(names) == 0 {
		return g
	}
	g.UIDs = make([]types.UID, len(names))
	for i, n := range names {
		if uid, ok := cached[n]; ok {
			g.UIDs[i] = uid
		} else {
			g.UIDs[i] = before[n]
		}
	}
	g.UIDsFor = v1alpha1.HoldersHash(names)
	return g
}

// ledgerLayout is the ledger to record after a decision: part 0 for the pool's status, the
// changes to its LicenseLedgers, and where each holder is recorded.
type ledgerLayout struct {
	part0 *v1alpha1.Ledger
	// gains0: part 0 records a holder it did not (see "Parts" in ledger.go).
	gains0 bool
	parts  []partWrite
	// seatPart and sessionPart: the part that records each holder.
	seatPart, sessionPart map[string]int
}

// partWrite is a change to one LicenseLedger: orig is the cached object (nil: create it), next
// the object to write (nil: delete orig, which records nothing any more).
type partWrite struct {
	part       int
	orig, next *v1alpha1.LicenseLedger
	gains      bool
	// stray: orig is no part of this pool's ledger (snapshot.strayParts): deleted first.
	stray bool
}

// layoutLedger lays the allocator's ledger out over the pool's parts, each at most size
// holders of a kind. A pool whose limits fit in one part, and that has no LicenseLedger, keeps
// its whole ledger in its status, as nextLedger records it.
func layoutLedger(pool *v1alpha1.LicensePool, parts ledgerParts, res allocator.Result, uids holderUIDs, size int) (ledgerLayout, error) {
	sessionRoom := ledgerRoom(res.Usage.SessionLimit, res.Usage.Overdraft)
	fits := func(room *int32) bool { return room == nil || partsFor(*room, size) == 1 }
	if managedElsewhere(pool) || (parts.single() && fits(res.Usage.SeatLimit) && fits(sessionRoom)) {
		return ledgerLayout{part0: nextLedger(pool, res, uids)}, nil
	}
	seats, seatGains, err := placeHolders(parts.seats, res.SeatLedger, res.Usage.SeatLimit, size, uids.seats)
	if err != nil {
		return ledgerLayout{}, err
	}
	sessions, sessionGains, err := placeHolders(parts.sessions, res.SessionLedger, sessionRoom, size, uids.sessions)
	if err != nil {
		return ledgerLayout{}, err
	}
	n := max(len(seats), len(sessions), len(parts.objs))
	at := func(l []*v1alpha1.Grants, k int) *v1alpha1.Grants {
		if k < len(l) {
			return l[k]
		}
		return nil
	}
	flag := func(l []bool, k int) bool { return k < len(l) && l[k] }
	l := ledgerLayout{seatPart: map[string]int{}, sessionPart: map[string]int{}}
	for k := range n {
		s, x := at(seats, k), at(sessions, k)
		for _, h := range holdersOf(s) {
			l.seatPart[h] = k
		}
		for _, h := range holdersOf(x) {
			l.sessionPart[h] = k
		}
		gains := flag(seatGains, k) || flag(sessionGains, k)
		if k == 0 {
			if s != nil || x != nil {
				l.part0 = &v1alpha1.Ledger{Seats: s, Sessions: x}
			}
			l.gains0 = gains
			continue
		}
		var orig *v1alpha1.LicenseLedger
		if k < len(parts.objs) {
			orig = parts.objs[k]
		}
		switch {
		case s == nil && x == nil && orig == nil:
		case s == nil && x == nil:
			l.parts = append(l.parts, partWrite{part: k, orig: orig})
		case orig != nil && equality.Semantic.DeepEqual(orig.Status, v1alpha1.LicenseLedgerStatus{Seats: s, Sessions: x}):
		default:
			next := newPart(pool, k)
			if orig != nil {
				next = orig.DeepCopy()
			}
			next.Status = v1alpha1.LicenseLedgerStatus{Seats: s, Sessions: x}
			l.parts = append(l.parts, partWrite{part: k, orig: orig, next: next, gains: gains})
		}
	}
	return l, nil
}

func holdersOf(g *v1alpha1.Grants) []string {
	if g == nil {
		return nil
	}
	return g.Holders
}

// newPart is a new LicenseLedger for part k of the pool's ledger, owned by the pool so that
// it goes with it.
func newPart(pool *v1alpha1.LicensePool, k int) *v1alpha1.LicenseLedger {
	p := &v1alpha1.LicenseLedger{Spec: v1alpha1.LicenseLedgerSpec{PoolName: pool.Name, Part: int32(k)}}
	p.Name, p.Namespace = partName(pool.Name, k), pool.Namespace
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "LicensePool", Name: pool.Name, UID: pool.UID, Controller: ptr.To(true),
	}}
	return p
}
