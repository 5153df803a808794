package allocator

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// randomSnapshot builds a pool, its seats and sessions, and a time, all from one seed: limits
// that may have just dropped, ledgers that may be stale, sessions in every phase and state.
func randomSnapshot(seed uint64) (Pool, []Seat, []Session, time.Time) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	sec := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Second }
	maybeLimit := func() *int32 {
		if rng.IntN(4) == 0 {
			return nil
		}
		return lim(int32(rng.IntN(6)))
	}
	p := pool(func(p *Pool) {
		p.SeatLimit, p.SessionLimit = maybeLimit(), maybeLimit()
		p.Found = rng.IntN(10) != 0
		if rng.IntN(12) == 0 {
			p.ManagedBy = "crm.example.com"
		}
		if rng.IntN(4) == 0 {
			p.ExpiresAt, p.ExpiryWarning = atp(sec(200)), sec(100)
		}
		p.Policy.HeartbeatTimeout = 5*time.Second + sec(60)
		if rng.IntN(2) == 0 {
			p.Policy.IdleTimeout = time.Second + sec(60)
		}
		if rng.IntN(2) == 0 {
			p.Policy.MaxDuration = time.Second + sec(100)
		}
		p.Policy.RetainEnded = time.Second + sec(200)
		p.Policy.Reject = rng.IntN(4) == 0
		p.Policy.RequireSeat = rng.IntN(4) == 0
		p.Policy.CountByHolder = rng.IntN(3) == 0
		if rng.IntN(2) == 0 {
			p.Policy.CapacityGrace = time.Second + sec(60)
		}
		if rng.IntN(2) == 0 {
			p.Groups = randomGroups(rng)
		}
		if rng.IntN(4) == 0 {
			p.Policy.MaxPerHolder = 1 + rng.IntN(3)
		}
		if rng.IntN(3) == 0 {
			p.Policy.Overdraft = rng.IntN(3)
		}
		if rng.IntN(3) == 0 {
			p.Policy.Preempt = true
			p.Policy.PreemptGrace = sec(3) * 20
		}
	})
	now := at(sec(150))
	holders := []string{"alice", "bob", "carol", "dan", "eve", "kiosk"}
	var seats []Seat
	for i := range rng.IntN(10) {
		s := seat(fmt.Sprintf("seat-%d", i), sec(100), holders[rng.IntN(len(holders))])
		s.Enabled = rng.IntN(5) != 0
		if rng.IntN(4) == 0 {
			s.Kind = v1alpha1.AssigneeDevice
		}
		switch rng.IntN(3) {
		case 0:
			s.Phase, s.Reason, s.BoundAt = v1alpha1.SeatBound, v1alpha1.SeatReasonGranted, atp(sec(100))
		case 1:
			s.Phase, s.Reason = v1alpha1.SeatPending, v1alpha1.SeatReasonCapacityReduced
		}
		seats = append(seats, s)
	}
	var sessions []Session
	for i := range rng.IntN(14) {
		s := session(fmt.Sprintf("sess-%d", i), sec(100), holders[rng.IntN(len(holders))])
		s.Priority = int32(rng.IntN(3))
		if rng.IntN(3) == 0 {
			s.Count = int32(1 + rng.IntN(7)) // sometimes more than the pool has
		}
		if rng.IntN(2) == 0 {
			s.State = v1alpha1.SessionConnected
		}
		s.Terminate = rng.IntN(10) == 0
		if rng.IntN(2) == 0 {
			s.RenewTime = atp(sec(150))
		}
		switch rng.IntN(4) {
		case 0:
			s.Phase, s.GrantedAt, s.StateChangedAt, s.ObservedState = v1alpha1.SessionActive, atp(sec(100)), atp(sec(100)), v1alpha1.SessionIdle
			if rng.IntN(5) == 0 {
				s.EndsAt = atp(sec(300)) // under a notice given earlier
			}
			if rng.IntN(5) == 0 {
				// under a notice of preemption given earlier, for a session that may still wait
				s.EndsAt, s.PreemptedBy = atp(sec(300)), fmt.Sprintf("sess-%d", rng.IntN(14))
			}
		case 1:
			s.Phase, s.QueuePosition = v1alpha1.SessionWaiting, int32(rng.IntN(5))
		case 2:
			if rng.IntN(2) == 0 {
				s.Phase, s.EndReason, s.EndedAt = v1alpha1.SessionEnded, v1alpha1.EndTerminated, atp(sec(150))
			}
		}
		sessions = append(sessions, s)
	}
	ledger := func(names []string) []string {
		if rng.IntN(3) == 0 {
			return nil
		}
		var l []string
		for _, n := range names {
			if rng.IntN(2) == 0 {
				l = append(l, n)
			}
		}
		if rng.IntN(4) == 0 {
			l = append(l, "vanished")
		}
		return append([]string{}, l...)
	}
	var seatNames, sessionNames []string
	for _, s := range seats {
		seatNames = append(seatNames, s.Name)
	}
	for _, s := range sessions {
		// Each licence by itself: a ledger may record a session in part.
		sessionNames = append(sessionNames, v1alpha1.LedgerEntries(s.Name, int32(s.licences()))...)
	}
	p.SeatLedger, p.SessionLedger = ledger(seatNames), ledger(sessionNames)
	return p, seats, sessions, now
}

// randomGroups are one to three groups over the generated holders, by name and by pattern.
func randomGroups(rng *rand.Rand) []Group {
	patterns := [][]string{{"alice"}, {"b*"}, {"*e"}, {"c*", "dan"}, {"kiosk", "eve"}, {"*"}}
	var groups []Group
	for g := range 1 + rng.IntN(3) {
		grp := Group{Name: fmt.Sprintf("g%d", g), Members: patterns[rng.IntN(len(patterns))], Reserved: rng.IntN(3)}
		if rng.IntN(2) == 0 {
			grp.MaxSessions = lim(int32(rng.IntN(4)))
		}
		if rng.IntN(2) == 0 {
			grp.MaxSeats = lim(int32(rng.IntN(3)))
		}
		groups = append(groups, grp)
	}
	return groups
}

// checkInvariants reports every broken promise of one decision.
func checkInvariants(t *testing.T, p Pool, seats []Seat, sessions []Session, now time.Time, res Result) {
	t.Helper()
	decides := p.Found && (p.ManagedBy == "" || p.ManagedBy == v1alpha1.ControllerName)
	if !res.Next.IsZero() && !res.Next.After(now) {
		t.Errorf("next deadline %v is not after now %v", res.Next, now)
	}

	var boundNames []string
	for i, r := range res.Seats {
		if (decides || seats[i].Phase == "") && (r.Phase == "" || r.Reason == "" || r.Message == "") {
			t.Errorf("seat %s has an unexplained status %+v", seats[i].Name, r)
		}
		if r.Phase == v1alpha1.SeatBound {
			boundNames = append(boundNames, seats[i].Name)
			if r.BoundAt == nil {
				t.Errorf("bound seat %s has no boundAt", seats[i].Name)
			}
		}
	}
	if decides && p.SeatLimit != nil {
		if len(boundNames) > int(*p.SeatLimit) {
			t.Errorf("over-grant: %d seats bound, limit %d", len(boundNames), *p.SeatLimit)
		}
		if !slices.Equal(sortedNames(boundNames), res.SeatLedger) {
			t.Errorf("seat ledger %v is not the bound seats %v", res.SeatLedger, boundNames)
		}
	}

	units := map[string]int{}        // licences in use by unit (session, or holder with countBy Holder)
	noticedUnits := map[string]int{} // licences of units under notice, beyond the limit
	var activeNames []string
	var waiting []int
	for i, r := range res.Sessions {
		s := sessions[i]
		if s.Phase == v1alpha1.SessionEnded && !r.Delete && r.Phase != v1alpha1.SessionEnded {
			t.Errorf("ended session %s came back as %s", s.Name, r.Phase)
		}
		switch r.Phase {
		case v1alpha1.SessionActive:
			activeNames = append(activeNames, v1alpha1.LedgerEntries(s.Name, int32(s.licences()))...)
			key := s.Name
			if p.Policy.CountByHolder {
				key = s.Holder
			}
			if r.EndsAt != nil && r.PreemptedBy == "" {
				noticedUnits[key] = max(noticedUnits[key], s.licences())
				if !r.EndsAt.After(now) {
					t.Errorf("session %s is still Active past its notice (%v)", s.Name, r.EndsAt)
				}
				if p.Policy.CapacityGrace == 0 && r.PreemptedBy == "" {
					t.Errorf("session %s got a notice from a pool with no grace period", s.Name)
				}
			} else {
				units[key] = max(units[key], s.licences())
			}
			if decides && (r.GrantedAt == nil || r.Message == "") {
				t.Errorf("active session %s lacks grantedAt or message", s.Name)
			}
		case v1alpha1.SessionWaiting:
			waiting = append(waiting, i)
		case v1alpha1.SessionEnded:
			if s.Phase != v1alpha1.SessionEnded && (r.EndReason == "" || r.Message == "" || r.EndedAt == nil) {
				t.Errorf("session %s ended without reason, message or time: %+v", s.Name, r)
			}
		case "":
			if decides {
				t.Errorf("session %s has no phase", s.Name)
			}
		}
	}
	if !decides {
		return
	}
	// The ledger's write order rests on Licence: what gains a licence is in the new ledger,
	// what loses one is not.
	checkLicence := func(kind, name string, l Licence, ledger []string) {
		if ledger == nil {
			return
		}
		in := slices.Contains(ledger, name)
		if kind == "session" {
			// All or none: every licence of the session, or none of them.
			var s Session
			for _, x := range sessions {
				if x.Name == name {
					s = x
				}
			}
			all, none := true, true
			for _, e := range v1alpha1.LedgerEntries(name, int32(s.licences())) {
				all, none = all && slices.Contains(ledger, e), none && !slices.Contains(ledger, e)
			}
			if !all && !none {
				t.Errorf("session %s is recorded in part in the ledger %v", name, ledger)
			}
		}
		if (l == Gains && !in) || (l == Loses && in) {
			t.Errorf("%s %s: Licence %d disagrees with the ledger %v", kind, name, l, ledger)
		}
	}
	for i, r := range res.Seats {
		checkLicence("seat", seats[i].Name, r.Licence, res.SeatLedger)
	}
	for i, r := range res.Sessions {
		checkLicence("session", sessions[i].Name, r.Licence, res.SessionLedger)
	}
	sum := func(m map[string]int) int {
		n := 0
		for _, c := range m {
			n += c
		}
		return n
	}
	if p.SessionLimit != nil {
		if n := sum(units); n > int(*p.SessionLimit)+p.Policy.Overdraft {
			t.Errorf("over-grant: %d licences in use beyond those under notice, limit %d with %d of overdraft", n, *p.SessionLimit, p.Policy.Overdraft)
		}
		if n := sum(units) + sum(noticedUnits); int(res.Usage.SessionsActive) != n {
			t.Errorf("usage says %d licences in use, the sessions hold %d", res.Usage.SessionsActive, n)
		}
		if !p.Policy.CountByHolder && len(res.SessionLedger) != int(res.Usage.SessionsActive) {
			t.Errorf("the ledger records %d licences, %d are in use", len(res.SessionLedger), res.Usage.SessionsActive)
		}
		// While holders under notice keep a licence beyond the limit, nobody gains one.
		if len(noticedUnits) > 0 && sum(units)+sum(noticedUnits) > int(*p.SessionLimit)+p.Policy.Overdraft {
			for i, r := range res.Sessions {
				held := recordsAll(inLedger(p.SessionLedger), sessions[i]) // held already, by the ledger's word
				covered := p.Policy.CountByHolder && units[sessions[i].Holder] >= sessions[i].licences()
				if r.Licence == Gains && r.EndsAt == nil && !held && !covered {
					t.Errorf("%s was granted while %d licences are under notice beyond the limit %d", sessions[i].Name, sum(noticedUnits), *p.SessionLimit)
				}
			}
		}
		if !slices.Equal(sortedNames(activeNames), res.SessionLedger) {
			t.Errorf("session ledger %v is not the active sessions %v", res.SessionLedger, activeNames)
		}
	}
	// The queue is 1..n in priority, creation, name order.
	slices.SortFunc(waiting, func(a, b int) int { return cmp.Compare(res.Sessions[a].QueuePosition, res.Sessions[b].QueuePosition) })
	for k, i := range waiting {
		if res.Sessions[i].QueuePosition != int32(k+1) {
			t.Errorf("queue positions are not 1..n: %s at %d", sessions[i].Name, res.Sessions[i].QueuePosition)
		}
		if k > 0 && rank(sessions[waiting[k-1]], sessions[i]) > 0 {
			t.Errorf("queue out of order: %s before %s", sessions[waiting[k-1]].Name, sessions[i].Name)
		}
	}
	// Fairness: nobody newly granted a licence ranks behind someone left waiting (the head
	// keeps what frees until it fits), unless (countBy Holder) the holder already had its
	// licences, or the one waiting asks for more than the whole limit.
	for i, r := range res.Sessions {
		if r.Phase != v1alpha1.SessionActive || sessions[i].Phase == v1alpha1.SessionActive || recordsAll(inLedger(p.SessionLedger), sessions[i]) {
			continue
		}
		for _, w := range waiting {
			tooLarge := p.SessionLimit != nil && sessions[w].licences() > int(*p.SessionLimit)+p.Policy.Overdraft
			aside := strings.Contains(res.Sessions[w].Message, "without holding up the queue")
			// A member may be granted from its group's reservation while one who is not waits.
			fromReserve := reserves(p, sessions[i].Holder) && groupIndex(p, sessions[w].Holder) != groupIndex(p, sessions[i].Holder)
			if rank(sessions[w], sessions[i]) < 0 && !p.Policy.CountByHolder && !tooLarge && !aside && !fromReserve {
				t.Errorf("%s was granted ahead of %s, who ranks first", sessions[i].Name, sessions[w].Name)
			}
		}
	}
}

// checkPolicies reports every broken promise of the pool's rules: reservations, caps,
// overdraft and preemption, counted from the decision's results.
func checkPolicies(t *testing.T, p Pool, sessions []Session, now time.Time, res Result) {
	t.Helper()
	byName := map[string]int{}
	for i, s := range sessions {
		byName[s.Name] = i
	}
	r := newRules(p)
	// held: not under notice; all: every Active session; kept: not on their way back.
	held, all, kept := newUnits(r, p.Policy.CountByHolder), newUnits(r, p.Policy.CountByHolder), newUnits(r, p.Policy.CountByHolder)
	for i, x := range res.Sessions {
		s := sessions[i]
		if x.Phase != v1alpha1.SessionActive {
			if x.PreemptedBy != "" {
				t.Errorf("%s is %s yet under preemption", s.Name, x.Phase)
			}
			continue
		}
		if x.EndsAt == nil {
			held.add(s.Holder, s.licences())
			all.add(s.Holder, s.licences())
		} else {
			all.addNoticed(s.Holder, s.licences())
		}
		if x.EndsAt == nil || x.PreemptedBy != "" {
			kept.add(s.Holder, s.licences())
		}
		if x.PreemptedBy != "" {
			j, ok := byName[x.PreemptedBy]
			switch {
			case !ok || res.Sessions[j].Phase != v1alpha1.SessionWaiting:
				t.Errorf("%s is preempted for %s, which does not wait", s.Name, x.PreemptedBy)
			case sessions[j].Priority <= s.Priority:
				t.Errorf("%s (priority %d) is preempted for %s, of priority %d", s.Name, s.Priority, x.PreemptedBy, sessions[j].Priority)
			case x.EndsAt == nil || !x.EndsAt.After(now):
				t.Errorf("%s is preempted with no notice in the future: %v", s.Name, x.EndsAt)
			}
			if k, ok := byName[s.PreemptedBy]; ok && s.EndsAt != nil && s.EndsAt.After(now) && s.PreemptedBy != x.PreemptedBy &&
				res.Sessions[k].Phase == v1alpha1.SessionWaiting && sessions[k].Priority > s.Priority &&
				!r.neverHolds(sessions[k].Holder, sessions[k].licences()) {
				t.Errorf("%s, under notice for %s that still waits, was preempted for %s", s.Name, s.PreemptedBy, x.PreemptedBy)
			}
		}
	}
	for i, x := range res.Sessions {
		if x.Phase == v1alpha1.SessionEnded && x.EndReason == v1alpha1.EndPreempted && sessions[i].Phase != v1alpha1.SessionEnded {
			by := sessions[i].PreemptedBy
			if by == "" {
				by, _, _ = strings.Cut(strings.TrimPrefix(x.Message, "session "), ",")
			}
			j, ok := byName[by]
			if !ok || sessions[j].Priority <= sessions[i].Priority {
				t.Errorf("%s was ended Preempted for %q, not of higher priority", sessions[i].Name, by)
			}
		}
	}
	if r.limit >= 0 {
		if used := held.commonUsed(); used > r.common() {
			t.Errorf("reserved licences used by others: %d common licences in use of %d", used, r.common())
		}
		if over := int(res.Usage.SessionsOverdraft); over != max(0, kept.total()-int(*p.SessionLimit)) || over > p.Policy.Overdraft {
			t.Errorf("overdraft in use %d, with %d licences kept of %d and %d of overdraft", over, kept.total(), *p.SessionLimit, p.Policy.Overdraft)
		}
		marked := 0
		for _, x := range res.Sessions {
			if x.Overdraft {
				marked++
			}
		}
		if (marked > 0) != (res.Usage.SessionsOverdraft > 0) {
			t.Errorf("%d sessions marked overdraft, with %d licences of overdraft in use", marked, res.Usage.SessionsOverdraft)
		}
	}
	for g, grp := range p.Groups {
		if grp.MaxSessions != nil && held.group[g] > int(*grp.MaxSessions) {
			t.Errorf("group %s uses %d licences, beyond its cap of %d", grp.Name, held.group[g], *grp.MaxSessions)
		}
		if int(res.Usage.Groups[g].SessionsActive) != all.group[g] {
			t.Errorf("group %s: usage says %d licences, its members hold %d", grp.Name, res.Usage.Groups[g].SessionsActive, all.group[g])
		}
	}
	for h, n := range held.use {
		if p.Policy.MaxPerHolder > 0 && n > p.Policy.MaxPerHolder {
			t.Errorf("%s uses %d licences, beyond the cap per holder of %d", h, n, p.Policy.MaxPerHolder)
		}
	}
	// Nobody starves: a waiting session that the rules would let in now has a session ahead of
	// it that waits and keeps the free licences.
	if p.Policy.Reject {
		return
	}
	for i, x := range res.Sessions {
		s := sessions[i]
		if x.Phase != v1alpha1.SessionWaiting || all.check(s.Holder, s.licences(), all.extra(s.Holder, s.licences())) != fits {
			continue
		}
		headAhead := false
		for j, y := range res.Sessions {
			if y.Phase == v1alpha1.SessionWaiting && rank(sessions[j], s) < 0 && !strings.Contains(y.Message, "without holding up the queue") {
				headAhead = true
			}
		}
		if !headAhead {
			t.Errorf("%s waits (%q) although the rules let it in and nobody ahead of it waits", s.Name, x.Message)
		}
	}
}

// groupIndex is the group a holder belongs to, or -1; reserves says whether it reserves any.
func groupIndex(p Pool, holder string) int { return newRules(p).groupOf(holder) }

func reserves(p Pool, holder string) bool {
	g := groupIndex(p, holder)
	return g >= 0 && p.Groups[g].Reserved > 0
}

func rank(a, b Session) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	return byAge(a.Created, b.Created, a.Name, b.Name)
}

// applied is the snapshot as it reads once the decision has been written: the operator's next
// look at an unchanged world.
func applied(p Pool, seats []Seat, sessions []Session, res Result) (Pool, []Seat, []Session) {
	p.SeatLedger, p.SessionLedger = res.SeatLedger, res.SessionLedger
	seats, sessions = slices.Clone(seats), slices.Clone(sessions)
	for i, r := range res.Seats {
		seats[i].Phase, seats[i].Reason, seats[i].Message, seats[i].BoundAt = r.Phase, r.Reason, r.Message, r.BoundAt
	}
	var kept []Session
	for i, r := range res.Sessions {
		if r.Delete {
			continue
		}
		s := sessions[i]
		s.Phase, s.QueuePosition, s.EndReason, s.Message = r.Phase, r.QueuePosition, r.EndReason, r.Message
		s.GrantedAt, s.EndedAt, s.StateChangedAt, s.ObservedState = r.GrantedAt, r.EndedAt, r.StateChangedAt, r.ObservedState
		s.EndsAt, s.PreemptedBy = r.EndsAt, r.PreemptedBy
		kept = append(kept, s)
	}
	return p, seats, kept
}

func checkSeed(t *testing.T, seed uint64) {
	p, seats, sessions, now := randomSnapshot(seed)
	res := Decide(p, seats, sessions, now)
	checkInvariants(t, p, seats, sessions, now, res)
	if p.Found && p.ManagedBy == "" {
		checkPolicies(t, p, sessions, now, res)
	}

	// Deciding again on the applied result changes nothing: no write loops.
	p2, seats2, sessions2 := applied(p, seats, sessions, res)
	again := Decide(p2, seats2, sessions2, now)
	p3, seats3, sessions3 := applied(p2, seats2, sessions2, again)
	if fmt.Sprint(p2, seats2, sessions2) != fmt.Sprint(p3, seats3, sessions3) {
		t.Errorf("seed %d: the decision is not a fixed point:\nfirst  %v %v %v\nsecond %v %v %v", seed, p2, seats2, sessions2, p3, seats3, sessions3)
	}
}

// TestRandomSnapshots checks the invariants on five thousand generated pools.
func TestRandomSnapshots(t *testing.T) {
	for seed := range uint64(5000) {
		checkSeed(t, seed)
		if t.Failed() {
			t.Fatalf("seed %d broke an invariant", seed)
		}
	}
}

// FuzzDecide searches for a snapshot that breaks an invariant. `make test` runs it briefly.
func FuzzDecide(f *testing.F) {
	for seed := range uint64(16) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkSeed(t, seed) })
}
