package integration

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The chaos spec again, on a pool with every policy on: groups with a reservation and caps,
// a cap per holder, overdraft and preemption. Its caps never change, so that they must hold at
// every moment; its limit and overdraft do, and may be exceeded only just after they drop.

// chaosGroups are the chaos pool's groups. sim-9 belongs to cfd, the first group that matches
// it, not to cad, which names it.
var chaosGroups = []v1.HolderGroup{
	holderGroup("cfd", []string{"sim-*"}, reserved(2), maxSessions(3), maxSeats(2)),
	holderGroup("cad", []string{"cad-*", "sim-9"}, maxSessions(2)),
}

const (
	chaosMaxPerHolder = 2
	chaosSeatLimit    = 4
)

// chaosHolders are the holders and assignees of the chaos pool: members of each group, and
// others.
var chaosHolders = []string{"sim-0", "sim-1", "sim-2", "sim-3", "sim-9", "cad-0", "cad-1", "cad-2", "ops-0", "ops-1", "ops-2", "ops-3"}

// matchesMember reports whether name matches a group's member: an exact name, or a pattern in
// which * stands for any run of characters. (The chaos holders are no e-mail addresses, so
// case matters.)
func matchesMember(member, name string) bool {
	parts := strings.Split(member, "*")
	if len(parts) == 1 {
		return member == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	rest := name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

// groupOf is the group a holder belongs to, the first that matches it; "" for none.
func groupOf(groups []v1.HolderGroup, holder string) string {
	for _, g := range groups {
		for _, m := range g.Members {
			if matchesMember(m, holder) {
				return g.Name
			}
		}
	}
	return ""
}

func reservedSum(groups []v1.HolderGroup) int {
	n := 0
	for _, g := range groups {
		n += int(ptr.Deref(g.ReservedSessions, 0))
	}
	return n
}

// policyUse is what a set of sessions or seats holds, by group and by holder.
type policyUse struct {
	total, nonMembers int
	byGroup           map[string]int
	byHolder          map[string]int
}

func newPolicyUse() policyUse {
	return policyUse{byGroup: map[string]int{}, byHolder: map[string]int{}}
}

func (u *policyUse) add(holder string, n int) {
	u.total += n
	u.byHolder[holder] += n
	if g := groupOf(chaosGroups, holder); g != "" {
		u.byGroup[g] += n
	} else {
		u.nonMembers += n
	}
}

func sessionUse(sessions []*v1.SharedSession) policyUse {
	u := newPolicyUse()
	for _, s := range sessions {
		if s.Status.Phase == v1.SessionActive {
			u.add(s.Spec.Holder, int(max(s.Spec.Count, 1)))
		}
	}
	return u
}

func seatUse(seats []*v1.SeatAssignment) policyUse {
	u := newPolicyUse()
	for _, s := range seats {
		if s.Status.Phase == v1.SeatBound {
			u.add(s.Spec.Assignee.Name, 1)
		}
	}
	return u
}

// capViolations lists how the use breaks a cap that never changes: a group's maxSessions (or
// maxSeats, for seats), maxPerHolder for sessions, the seat limit for seats.
func capViolations(u policyUse, seats bool) []string {
	var out []string
	for _, g := range chaosGroups {
		limit := g.MaxSessions
		if seats {
			limit = g.MaxSeats
		}
		if limit != nil && u.byGroup[g.Name] > int(*limit) {
			out = append(out, fmt.Sprintf("group %s holds %d, over its cap of %d", g.Name, u.byGroup[g.Name], *limit))
		}
	}
	if seats {
		if u.total > chaosSeatLimit {
			out = append(out, fmt.Sprintf("%d seats bound, over the limit of %d", u.total, chaosSeatLimit))
		}
		return out
	}
	for h, n := range u.byHolder {
		if n > chaosMaxPerHolder {
			out = append(out, fmt.Sprintf("holder %s holds %d, over maxPerHolder %d", h, n, chaosMaxPerHolder))
		}
	}
	sort.Strings(out)
	return out
}

// policyObserver watches every version of the namespace's sessions and seats, and records the
// caps broken at any of them and every notice of preemption, with the priorities involved.
type policyObserver struct {
	sessions, seats *watchRun

	mu         sync.Mutex
	violations []string
	noticed    map[string]string // session → the session that preempts it, as seen
	preempted  map[string]bool   // sessions seen ending Preempted
	overdraft  map[string]bool   // sessions seen holding beyond the limit
	most       map[string]int    // group → most licences its members held at once
}

func observePolicies(ns string) *policyObserver {
	GinkgoHelper()
	o := &policyObserver{noticed: map[string]string{}, preempted: map[string]bool{}, overdraft: map[string]bool{}, most: map[string]int{}}
	sessions := map[string]*v1.SharedSession{}
	o.sessions = watchEvery(ns, &v1.SharedSessionList{}, func(typ watch.EventType, obj client.Object) {
		s := obj.(*v1.SharedSession)
		if typ == watch.Deleted {
			delete(sessions, s.Name)
		} else {
			sessions[s.Name] = s
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if by := s.Status.PreemptedBy; by != "" && typ != watch.Deleted {
			o.noticed[s.Name] = by
			// The session it names was created before the notice; gone, the notice is stale
			// and about to be withdrawn.
			if p, ok := sessions[by]; ok && p.Spec.Priority <= s.Spec.Priority {
				o.violations = append(o.violations, fmt.Sprintf("session %s (priority %d) preempted by %s of priority %d, at version %s",
					s.Name, s.Spec.Priority, by, p.Spec.Priority, s.ResourceVersion))
			}
		}
		if s.Status.Phase == v1.SessionEnded && s.Status.EndReason == v1.EndPreempted && !o.preempted[s.Name] {
			o.preempted[s.Name] = true
			if o.noticed[s.Name] == "" {
				o.violations = append(o.violations, fmt.Sprintf("session %s ended Preempted without a notice naming who preempts it", s.Name))
			}
		}
		if meta.IsStatusConditionTrue(s.Status.Conditions, v1.ConditionOverdraft) {
			o.overdraft[s.Name] = true
		}
		all := make([]*v1.SharedSession, 0, len(sessions))
		for _, x := range sessions {
			all = append(all, x)
		}
		u := sessionUse(all)
		for g, n := range u.byGroup {
			o.most[g] = max(o.most[g], n)
		}
		for _, v := range capViolations(u, false) {
			o.violations = append(o.violations, fmt.Sprintf("%s, at version %s (%s %s)", v, s.ResourceVersion, typ, s.Name))
		}
	})
	seats := map[string]*v1.SeatAssignment{}
	o.seats = watchEvery(ns, &v1.SeatAssignmentList{}, func(typ watch.EventType, obj client.Object) {
		s := obj.(*v1.SeatAssignment)
		if typ == watch.Deleted {
			delete(seats, s.Name)
		} else {
			seats[s.Name] = s
		}
		all := make([]*v1.SeatAssignment, 0, len(seats))
		for _, x := range seats {
			all = append(all, x)
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, v := range capViolations(seatUse(all), true) {
			o.violations = append(o.violations, fmt.Sprintf("%s, at version %s (%s %s)", v, s.ResourceVersion, typ, s.Name))
		}
	})
	return o
}

// Stop ends the observation and returns what it saw broken.
func (o *policyObserver) Stop() []string {
	GinkgoHelper()
	o.sessions.end()
	o.seats.end()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.violations
}

// policyWorld is the chaos world of the pool with policies.
type policyWorld struct {
	*chaosWorld
}

func (w *policyWorld) holder() string { return chaosHolders[w.rng.IntN(len(chaosHolders))] }

func (w *policyWorld) step(restart func()) string {
	switch op := w.rng.IntN(100); {
	case op < 12:
		w.created++
		name := fmt.Sprintf("seat-%03d", w.created)
		newSeat(w.ns, name, "p", w.holder(), v1.AssigneeUser)
		w.seats[name] = true
		return "create " + name
	case op < 18:
		name, ok := w.pick(w.seats)
		if !ok {
			return "no seat to delete"
		}
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, &v1.SeatAssignment{ObjectMeta: objMeta(w.ns, name)}))).To(Succeed())
		w.seats[name] = false
		return "delete " + name
	case op < 52:
		w.created++
		name := fmt.Sprintf("sess-%03d", w.created)
		holder, prio := w.holder(), int32(w.rng.IntN(3))
		newSession(w.ns, name, "p", holder, priority(prio))
		w.sessions[name] = true
		w.mu.Lock()
		w.renewed[name] = true
		w.mu.Unlock()
		return fmt.Sprintf("create %s for %s, priority %d", name, holder, prio)
	case op < 60:
		return w.deleteSession()
	case op < 68:
		return w.terminateSession()
	case op < 74:
		return w.silenceSession()
	case op < 86:
		p := getPool(Default, w.ns, "p")
		// Never below the reservations, which the API refuses.
		sessions, overdraft := int32(reservedSum(chaosGroups)+w.rng.IntN(5)), int32(w.rng.IntN(3))
		if sessions < *p.Spec.ConcurrentSessions || overdraft < ptr.Deref(p.Spec.OverdraftSessions, 0) {
			w.decreases = append(w.decreases, time.Now())
		}
		patchSpec(p, fmt.Sprintf(`{"spec":{"concurrentSessions":%d,"overdraftSessions":%d}}`, sessions, overdraft))
		return fmt.Sprintf("limits to %d sessions and %d overdraft", sessions, overdraft)
	case op < 95:
		// A pause lets notices run out and queues move while nothing else happens.
		time.Sleep(300 * time.Millisecond)
		return "pause"
	default:
		restart()
		return "restart the second operator"
	}
}

// check asserts the policies through the direct client: no more licences in use, nor in the
// ledger, than the limit and the overdraft allow, none of the reserved ones to a non-member
// (unless a limit just dropped), no cap ever exceeded, preemption only by a session of higher
// priority; and what chaosWorld.checkObjects asserts.
func (w *policyWorld) check(g Gomega, now time.Time) {
	p := getPool(g, w.ns, "p")
	capacity := int(*p.Spec.ConcurrentSessions) + int(ptr.Deref(p.Spec.OverdraftSessions, 0))
	seats, sessions := seatsIn(g, w.ns), sessionsIn(g, w.ns)
	ledger := sessionLedger(g, w.ns, "p")
	byName := map[string]*v1.SharedSession{}
	all := make([]*v1.SharedSession, len(sessions))
	for i := range sessions {
		all[i] = &sessions[i]
		byName[sessions[i].Name] = &sessions[i]
	}
	use := sessionUse(all)
	if !w.recentDecrease(now) {
		g.Expect(use.total).To(BeNumerically("<=", capacity), "licences in use beyond the limit and overdraft")
		g.Expect(len(ledger)).To(BeNumerically("<=", capacity), "ledger entries beyond the limit and overdraft")
		g.Expect(use.nonMembers).To(BeNumerically("<=", capacity-reservedSum(chaosGroups)), "non-members use reserved licences")
	}
	g.Expect(capViolations(use, false)).To(BeEmpty())
	for _, s := range all {
		if by := s.Status.PreemptedBy; by != "" && byName[by] != nil {
			g.Expect(byName[by].Spec.Priority).To(BeNumerically(">", s.Spec.Priority), "session %s preempted by %s", s.Name, by)
		}
	}
	allSeats := make([]*v1.SeatAssignment, len(seats))
	for i := range seats {
		allSeats[i] = &seats[i]
	}
	g.Expect(capViolations(seatUse(allSeats), true)).To(BeEmpty())
	w.checkObjects(g, now, seats, sessions)
}

var _ = Describe("Chaos with policies", Label("chaos", "policies"), func() {
	It("keeps every policy under random operations, two operators and restarts", func() {
		seed := *chaosSeed
		if seed == 0 {
			seed = time.Now().UnixNano()
		}
		fmt.Fprintf(GinkgoWriter, "chaos with policies: seed %d, %d steps (rerun with -args -chaos.seed=%d -chaos.steps=%d)\n", seed, *chaosSteps, seed, *chaosSteps)
		AddReportEntry("chaos with policies seed", seed)
		ns := newNamespace()
		w := &policyWorld{&chaosWorld{ns: ns, rng: rand.New(rand.NewPCG(uint64(seed), 2)), seats: map[string]bool{}, sessions: map[string]bool{}, renewed: map[string]bool{}}}
		obs := observePolicies(ns)
		newPool(ns, "p", int32p(chaosSeatLimit), int32p(4), func(p *v1.LicensePool) {
			p.Spec.OverdraftSessions = int32p(1)
			p.Spec.Groups = chaosGroups
			p.Spec.SessionPolicy.HeartbeatTimeout = dur(5 * time.Second)
			p.Spec.SessionPolicy.CapacityGracePeriod = dur(0) // as in the chaos spec
			p.Spec.SessionPolicy.RetainEnded = dur(time.Hour)
			p.Spec.SessionPolicy.MaxPerHolder = chaosMaxPerHolder
			p.Spec.SessionPolicy.Preemption = &v1.Preemption{Policy: v1.PreemptLowerPriority, GracePeriod: dur(time.Second)}
		})
		restart, restarts := secondOperator("policy-chaos-second")
		stopAgents := w.startAgents()

		violations := runChaosSteps("chaos with policies", seed, func() string { return w.step(restart) }, func(g Gomega) { w.check(g, time.Now()) })
		stopAgents()

		By("once the operations stop and the last drop is past its grace, everything keeps to the policies and explains itself")
		time.Sleep(time.Until(w.lastDecrease().Add(grace)))
		Eventually(func(g Gomega) {
			w.check(g, time.Now())
			for _, s := range sessionsIn(g, ns) {
				g.Expect(s.Status.Message).NotTo(BeEmpty(), s.Name)
			}
			for _, s := range seatsIn(g, ns) {
				g.Expect(s.Status.Message).NotTo(BeEmpty(), s.Name)
			}
		}, 30*time.Second).Should(Succeed())
		seen := obs.Stop()
		Expect(seen).To(BeEmpty(), "chaos with policies, seed %d: a cap broken or a wrong preemption at some version", seed)

		obs.mu.Lock()
		defer obs.mu.Unlock()
		summary := fmt.Sprintf("seed %d, %d steps, %d restarts, %d violations; %d notices of preemption, %d ended Preempted, %d sessions in overdraft; most held at once by group %v",
			seed, *chaosSteps, restarts(), violations, len(obs.noticed), len(obs.preempted), len(obs.overdraft), obs.most)
		fmt.Fprintf(GinkgoWriter, "chaos with policies: %s\n", summary)
		AddReportEntry("chaos with policies result", summary)
	})
})
