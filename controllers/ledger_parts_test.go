package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

func TestPartQuota(t *testing.T) {
	tests := []struct {
		limit int32
		size  int
		want  []int // quotas of parts 0, 1, 2, 3
	}{
		{0, 2, []int{0, 0, 0, 0}},
		{1, 2, []int{1, 0, 0, 0}},
		{2, 2, []int{2, 0, 0, 0}},
		{5, 2, []int{2, 2, 1, 0}},
		{6, 2, []int{2, 2, 2, 0}},
		{100000, 2048, []int{2048, 2048, 2048, 2048}},
	}
	for _, tt := range tests {
		var got []int
		sum := 0
		for k := range partsFor(tt.limit, tt.size) {
			sum += partQuota(tt.limit, k, tt.size)
		}
		for k := range 4 {
			got = append(got, partQuota(tt.limit, k, tt.size))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("limit %d, size %d: quotas (-want +got):\n%s", tt.limit, tt.size, diff)
		}
		if sum != int(tt.limit) {
			t.Errorf("limit %d, size %d: the quotas of its %d parts sum to %d", tt.limit, tt.size, partsFor(tt.limit, tt.size), sum)
		}
	}
	// A part's quota never falls when the limit rises: two operators that read different
	// limits can together record no more than the larger one.
	for size := 1; size <= 4; size++ {
		for limit := int32(0); limit < 20; limit++ {
			for k := range 10 {
				if partQuota(limit+1, k, size) < partQuota(limit, k, size) {
					t.Fatalf("size %d: part %d's quota falls from %d to %d as the limit rises to %d", size, k, partQuota(limit, k, size), partQuota(limit+1, k, size), limit+1)
				}
			}
		}
	}
}

func TestPartName(t *testing.T) {
	if got := partName("remote-support", 3); got != "remote-support.ledger-3" {
		t.Errorf("partName = %q", got)
	}
	long := strings.Repeat("a", 253)
	a, b := partName(long, 12), partName(long[:252]+"b", 12)
	if len(a) > 253 || a == b || !strings.HasSuffix(a, ".ledger-12") {
		t.Errorf("long names: %q and %q must be distinct, at most 253 characters and end in the part", a, b)
	}
}

// parts builds a ledger list per part from "a,b" strings ("-" for a part with no list).
func parts(lists ...string) []*v1alpha1.Grants {
	out := make([]*v1alpha1.Grants, len(lists))
	for i, l := range lists {
		if l == "-" {
			continue
		}
		g := &v1alpha1.Grants{}
		if l != "" {
			g.Holders = strings.Split(l, ",")
		}
		out[i] = g
	}
	return out
}

func TestPlaceHolders(t *testing.T) {
	tests := []struct {
		name      string
		old       []*v1alpha1.Grants
		holders   []string
		limit     *int32
		want      []string // holders by part, "-" for no list
		wantGains []bool
		wantErr   bool
	}{
		{name: "a new ledger fills the parts in order",
			old: parts("-"), holders: []string{"a", "b", "c", "d", "e"}, limit: ptr.To[int32](5),
			want: []string{"a,b", "c,d", "e"}, wantGains: []bool{true, true, true}},
		{name: "holders stay where they are; a new one takes the first room",
			old: parts("a", "c,d"), holders: []string{"a", "b", "c", "d"}, limit: ptr.To[int32](4),
			want: []string{"a,b", "c,d"}, wantGains: []bool{true, false}},
		{name: "a release leaves the others in place, and the part only loses",
			old: parts("a,b", "c,d"), holders: []string{"a", "b", "d"}, limit: ptr.To[int32](4),
			want: []string{"a,b", "d"}, wantGains: []bool{false, false}},
		{name: "a limit that drops moves holders into parts with room",
			old: parts("a", "c,d", "e"), holders: []string{"a", "c", "e"}, limit: ptr.To[int32](3),
			want: []string{"a,e", "c", "-"}, wantGains: []bool{true, false, false}},
		{name: "holders past a dropped limit, in their grace period, stay where they are",
			old: parts("a,b", "c,d", "e"), holders: []string{"a", "b", "c", "d", "e"}, limit: ptr.To[int32](2),
			want: []string{"a,b", "c,d", "e"}, wantGains: []bool{false, false, false}},
		{name: "a holder recorded twice (a move cut short) is kept once, where it fits first",
			old: parts("a,b", "b,c"), holders: []string{"a", "b", "c"}, limit: ptr.To[int32](4),
			want: []string{"a,b", "c"}, wantGains: []bool{false, false}},
		{name: "no list kept: every part lets its list go",
			old: parts("a", "b"), holders: nil, limit: nil,
			want: []string{"-", "-"}, wantGains: []bool{false, false}},
		{name: "a new holder past the limit is refused, never recorded",
			old: parts("a,b", "c"), holders: []string{"a", "b", "c", "d"}, limit: ptr.To[int32](3), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gains, err := placeHolders(tt.old, tt.holders, tt.limit, 2, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			var lists []string
			for _, g := range got {
				if g == nil {
					lists = append(lists, "-")
				} else {
					lists = append(lists, strings.Join(g.Holders, ","))
				}
			}
			if diff := cmp.Diff(tt.want, lists); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGains, gains); diff != "" {
				t.Errorf("gains (-want +got):\n%s", diff)
			}
			for k, g := range got {
				if g != nil && tt.limit != nil && len(g.Holders) > partQuota(*tt.limit, k, 2) && tt.name[:7] != "holders" {
					t.Errorf("part %d records %d holders, over its quota of %d", k, len(g.Holders), partQuota(*tt.limit, k, 2))
				}
			}
		})
	}
}

// Moved holders keep the UID the ledger recorded for them, when the cache does not show them.
func TestPlaceHoldersKeepsUIDs(t *testing.T) {
	old := []*v1alpha1.Grants{grantsOf([]string{"a"}, map[string]types.UID{"a": "uid-a"}, nil),
		grantsOf([]string{"b", "c"}, map[string]types.UID{"b": "uid-b", "c": "uid-c"}, nil)}
	got, _, err := placeHolders(old, []string{"a", "c"}, ptr.To[int32](2), 2, map[string]types.UID{"a": "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]types.UID{"uid-a", "uid-c"}, got[0].UIDs); diff != "" || got[0].RecordedUIDs() == nil {
		t.Errorf("part 0 UIDs (-want +got):\n%s", diff)
	}
}

// The layout of a pool within one part is what the pool's status has always recorded, and
// writes no LicenseLedger.
func TestLayoutLedgerOnePart(t *testing.T) {
	pool := testPool("p", 3)
	res := allocator.Result{SessionLedger: []string{"a", "b"}}
	res.Usage.SessionLimit = ptr.To[int32](3)
	uids := holderUIDs{sessions: map[string]types.UID{"a": "uid-a", "b": "uid-b"}}
	l, err := layoutLedger(pool, readParts(pool, nil), res, uids, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nextLedger(pool, res, uids), l.part0); diff != "" || len(l.parts) != 0 {
		t.Errorf("one part: ledger (-want +got):\n%s\nparts: %v", diff, l.parts)
	}
	// Past one part: the rest goes to LicenseLedgers owned by the pool.
	res.SessionLedger = []string{"a", "b", "c"}
	uids.sessions["c"] = "uid-c"
	l, err = layoutLedger(pool, readParts(pool, nil), res, uids, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.parts) != 1 || l.parts[0].orig != nil || l.parts[0].next.Name != "p.ledger-1" || !l.parts[0].gains ||
		l.parts[0].next.OwnerReferences[0].UID != pool.UID || strings.Join(l.parts[0].next.Status.Sessions.Holders, ",") != "c" {
		t.Errorf("two parts: got %+v", l.parts)
	}
	if got := strings.Join(l.part0.Sessions.Holders, ","); got != "a,b" || !l.gains0 || l.sessionPart["c"] != 1 {
		t.Errorf("two parts: part 0 %q, gains %v, c in part %d", got, l.gains0, l.sessionPart["c"])
	}
}

// With overdraft the ledger has room for the limit plus the licences allowed beyond it: they
// are laid out over the parts as any others, and no more than that room is ever recorded.
func TestLayoutLedgerRoomForOverdraft(t *testing.T) {
	entries := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("s%d", i))
		}
		return out
	}
	tests := []struct {
		name             string
		old              []*v1alpha1.Grants // the parts recorded before; nil: a pool in one part
		limit, overdraft int32
		holders          int
		want             []string // holders by part (part 0 first), "-" for no list
		wantErr          bool
	}{
		{name: "limit 4 and 2 beyond it: 6 recorded over three parts", limit: 4, overdraft: 2, holders: 6,
			want: []string{"s0,s1", "s2,s3", "s4,s5"}},
		{name: "without overdraft, a sixth licence has no room", limit: 4, holders: 5, wantErr: true},
		{name: "past the room, even with overdraft: refused", limit: 4, overdraft: 2, holders: 7, wantErr: true},
		{name: "a pool whose limit fits one part, but not with its overdraft: a second part", limit: 2, overdraft: 1, holders: 3,
			want: []string{"s0,s1", "s2"}},
		{name: "a pool that fits one part with its overdraft stays in its status", limit: 2, overdraft: 0, holders: 2,
			want: []string{"s0,s1"}},
		{name: "overdraft taken away: holders beyond the limit, in their grace, stay where they are",
			old: parts("s0,s1", "s2,s3", "s4"), limit: 4, overdraft: 0, holders: 5,
			want: []string{"s0,s1", "s2,s3", "s4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := testPool("p", tc.limit)
			pool.Spec.OverdraftSessions = ptr.To(tc.overdraft)
			var objs []*v1alpha1.LicenseLedger
			for k, g := range tc.old {
				if k == 0 {
					pool.Status.Ledger = &v1alpha1.Ledger{Sessions: g}
					continue
				}
				part := newPart(pool, k)
				part.Status.Sessions = g
				objs = append(objs, part)
			}
			res := allocator.Result{SessionLedger: entries(tc.holders)}
			res.Usage.SessionLimit, res.Usage.Overdraft = ptr.To(tc.limit), tc.overdraft
			l, err := layoutLedger(pool, readParts(pool, objs), res, holderUIDs{}, 2)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			// Parts the layout leaves unchanged are not written: they stay as recorded.
			got := []string{"-"}
			for k, g := range tc.old {
				if k > 0 {
					got = append(got, strings.Join(g.Holders, ","))
				}
			}
			if l.part0 != nil && l.part0.Sessions != nil {
				got[0] = strings.Join(l.part0.Sessions.Holders, ",")
			}
			for _, w := range l.parts {
				for len(got) <= w.part {
					got = append(got, "-")
				}
				got[w.part] = "-"
				if w.next != nil && w.next.Status.Sessions != nil {
					got[w.part] = strings.Join(w.next.Status.Sessions.Holders, ",")
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
		})
	}
}

// A ledger of several parts on a fake API server: parts are created as the pool fills, a part
// that gains is written before one that only loses, and a part left with nothing is deleted.
func TestApplyLedgerParts(t *testing.T) {
	var log writeLog
	objs := []client.Object{testPool("p", 5)}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		objs = append(objs, testSession(n, "p"))
	}
	c := fakeAPI(t, log.funcs(), objs...)
	r, _ := testReconciler(c, c)
	r.partSize = 2
	clock := clocktesting.NewFakeClock(t0)
	r.Clock = clock
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	writes := log.take()
	// Creations and the ledger come before any grant.
	lastLedger, firstGrant := ledgerThenGrants(writes)
	if lastLedger > firstGrant || !slices.Contains(writes, "create part p.ledger-1") || !slices.Contains(writes, "create part p.ledger-2") {
		t.Fatalf("writes %q: want the parts created and the ledger written before the grants", writes)
	}
	for n, s := range sessionsIn(t, c) {
		if s.Phase != v1alpha1.SessionActive {
			t.Errorf("session %s: %q, want Active", n, s.Phase)
		}
	}
	if got := partHolders(t, c); got != "a,b|c,d|e" {
		t.Errorf("parts hold %q, want a,b|c,d|e", got)
	}

	// a and b end: part 0 has room, and e moves there from part 2, which is then deleted
	// after part 0 records e.
	for _, n := range []string{"a", "b"} {
		s := &v1alpha1.SharedSession{}
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: n}, s); err != nil {
			t.Fatal(err)
		}
		s.Spec.Terminate = true
		if err := c.Update(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	pool := poolIn(t, c, "p")
	pool.Spec.ConcurrentSessions = ptr.To[int32](3)
	if err := c.Update(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	log.take()
	clock.Step(echoWait) // no watch here brings our writes back: take them as seen
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	writes = log.take()
	if i, j := slices.Index(writes, "status pool p"), slices.Index(writes, "delete part p.ledger-2"); i < 0 || j < 0 || i > j {
		t.Errorf("writes %q: want part 0 to record e before part 2 is deleted", writes)
	}
	if got := partHolders(t, c); got != "c,e|d" && got != "d,e|c" {
		t.Errorf("parts hold %q after the move, want two holders in part 0 and one in part 1", got)
	}
}

// partHolders lists what the pool's ledger parts record, "|" between parts.
func partHolders(t *testing.T, c client.Client) string {
	t.Helper()
	var list v1alpha1.LicenseLedgerList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	byPart := map[int32]string{}
	for _, p := range list.Items {
		byPart[p.Spec.Part] = strings.Join(holdersOf(p.Status.Sessions), ",")
	}
	out := []string{strings.Join(holdersOf(poolIn(t, c, "p").Status.Ledger.Sessions), ",")}
	for k := int32(1); k <= int32(len(list.Items)); k++ {
		out = append(out, byPart[k])
	}
	return strings.Join(out, "|")
}

// A part left by an earlier pool of the same name, which the garbage collector has not removed
// yet, is no part of the new pool's ledger: it does not hold back a licence, and it is deleted
// before the part of its name is created again.
func TestStrayPartIsDeleted(t *testing.T) {
	var log writeLog
	stray := newPart(testPool("p", 3), 1)
	stray.OwnerReferences[0].UID = "uid-of-the-pool-before"
	stray.Status.Sessions = &v1alpha1.Grants{Holders: []string{"c"}}
	objs := []client.Object{testPool("p", 3), stray, testSession("a", "p"), testSession("b", "p"), testSession("c", "p")}
	c := fakeAPI(t, log.funcs(), objs...)
	r, _ := testReconciler(c, c)
	r.partSize = 2
	if _, err := r.Reconcile(context.Background(), poolKey("p")); err != nil {
		t.Fatal(err)
	}
	writes := log.take()
	if i, j := slices.Index(writes, "delete part p.ledger-1"), slices.Index(writes, "create part p.ledger-1"); i < 0 || j < i {
		t.Errorf("writes %q: want the stray part deleted, then created again", writes)
	}
	for n, s := range sessionsIn(t, c) {
		if s.Phase != v1alpha1.SessionActive {
			t.Errorf("session %s: %q, want Active", n, s.Phase)
		}
	}
	part := &v1alpha1.LicenseLedger{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "p.ledger-1"}, part); err != nil {
		t.Fatal(err)
	}
	if part.OwnerReferences[0].UID != "uid-p" {
		t.Errorf("part 1 is owned by %s, want the pool", part.OwnerReferences[0].UID)
	}
}

// A thousand generated layouts: whatever the parts recorded before (a limit that dropped, a
// move cut short, holders in their grace period), placeHolders records each holder once, never
// lets a part gain a holder past its share, records nobody the decision let go, and refuses
// only a new holder that finds no room.
func TestPlaceHoldersGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2048))
	const size = 3
	for n := range 1000 {
		oldLimit, limit := int32(rng.IntN(12)), int32(rng.IntN(12))
		// The old layout: each of the old limit's holders in some part, a few twice.
		old := make([]*v1alpha1.Grants, partsFor(oldLimit, size)+rng.IntN(2))
		var recorded []string
		for i := range int(oldLimit) {
			h := fmt.Sprintf("h%02d", i)
			recorded = append(recorded, h)
			for copies := 1 + rng.IntN(2); copies > 0; copies-- {
				k := rng.IntN(len(old))
				if old[k] == nil {
					old[k] = &v1alpha1.Grants{}
				}
				old[k].Holders = append(old[k].Holders, h)
			}
		}
		for _, g := range old {
			if g != nil {
				slices.Sort(g.Holders)
				g.Holders = slices.Compact(g.Holders)
			}
		}
		// The decision: some of them stay, some new ones come, within the limit unless all
		// stay (a drop that leaves holders in their grace period).
		var holders []string
		for _, h := range recorded {
			if rng.IntN(3) > 0 {
				holders = append(holders, h)
			}
		}
		for i := 0; len(holders) < int(limit) && rng.IntN(2) == 0; i++ {
			holders = append(holders, fmt.Sprintf("n%02d", i))
		}
		slices.Sort(holders)
		wasRecorded := map[string]bool{}
		for _, h := range recorded {
			wasRecorded[h] = true
		}
		newOnes := 0
		for _, h := range holders {
			if !wasRecorded[h] {
				newOnes++
			}
		}

		parts, gains, err := placeHolders(old, holders, &limit, size, nil)
		if err != nil {
			if len(holders) <= int(limit) || newOnes == 0 {
				t.Fatalf("case %d: limit %d, %d holders (%d new) over %v: refused: %v", n, limit, len(holders), newOnes, old, err)
			}
			continue
		}
		seen := map[string]int{}
		for k, g := range parts {
			for _, h := range holdersOf(g) {
				seen[h]++
			}
			var had []string
			if k < len(old) {
				had = holdersOf(old[k])
			}
			gained := slices.ContainsFunc(holdersOf(g), func(h string) bool { return !slices.Contains(had, h) })
			if gains[k] != gained {
				t.Fatalf("case %d: part %d reports gains %v, but records a holder it did not: %v", n, k, gains[k], gained)
			}
			if gains[k] && len(holdersOf(g)) > partQuota(limit, k, size) {
				t.Fatalf("case %d: part %d gains a holder and records %d, past its share of %d under limit %d", n, k, len(holdersOf(g)), partQuota(limit, k, size), limit)
			}
		}
		for _, h := range holders {
			if seen[h] != 1 {
				t.Fatalf("case %d: %s recorded %d times, want once: %v", n, h, seen[h], parts)
			}
		}
		if len(seen) != len(holders) {
			t.Fatalf("case %d: the parts record %d holders, the decision kept %d", n, len(seen), len(holders))
		}
	}
}

// ledgerThenGrants finds, in a writeLog's writes, the last write of the ledger (a part's or the
// pool's status) and the first write of a session's status: the ledger must come first.
func ledgerThenGrants(writes []string) (lastLedger, firstGrant int) {
	lastLedger, firstGrant = -1, len(writes)
	for i, w := range writes {
		if strings.HasPrefix(w, "create part") || strings.HasPrefix(w, "status part") || w == "status pool p" {
			lastLedger = i
		} else if strings.HasPrefix(w, "status session") && firstGrant == len(writes) {
			firstGrant = i
		}
	}
	return lastLedger, firstGrant
}
