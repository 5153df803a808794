package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// holderGroup is a group of the pool's spec.groups; mutate sets its reservation and caps.
func holderGroup(name string, members []string, mutate ...func(*v1.HolderGroup)) v1.HolderGroup {
	g := v1.HolderGroup{Name: name, Members: members}
	for _, m := range mutate {
		m(&g)
	}
	return g
}

func reserved(n int32) func(*v1.HolderGroup) {
	return func(g *v1.HolderGroup) { g.ReservedSessions = int32p(n) }
}
func maxSessions(n int32) func(*v1.HolderGroup) {
	return func(g *v1.HolderGroup) { g.MaxSessions = int32p(n) }
}
func maxSeats(n int32) func(*v1.HolderGroup) {
	return func(g *v1.HolderGroup) { g.MaxSeats = int32p(n) }
}

func priority(n int32) func(*v1.SharedSession) {
	return func(s *v1.SharedSession) { s.Spec.Priority = n }
}

// groupUsage is the pool's status.groups entry for the group name; it fails when there is none.
func groupUsage(g Gomega, ns, pool, name string) v1.GroupUsage {
	groups := getPool(g, ns, pool).Status.Groups
	for _, u := range groups {
		if u.Name == name {
			return u
		}
	}
	g.Expect(groups).To(ContainElement(HaveField("Name", name)), "status.groups reports group %s", name)
	return v1.GroupUsage{}
}

// warnings returns the namespace's Warning Events as "Kind/name reason: note".
func warnings(g Gomega, ns string) []string {
	var l eventsv1.EventList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range l.Items {
		if e.Type == "Warning" {
			out = append(out, fmt.Sprintf("%s/%s %s: %s", e.Regarding.Kind, e.Regarding.Name, e.Reason, e.Note))
		}
	}
	return out
}

// sessionCondition is the session's condition of that type, nil when absent.
func sessionCondition(g Gomega, ns, name, typ string) *metav1.Condition {
	return meta.FindStatusCondition(getSession(g, ns, name).Status.Conditions, typ)
}

// inOverdraft reports whether the session's condition Overdraft is True.
func inOverdraft(g Gomega, ns, name string) bool {
	return meta.IsStatusConditionTrue(getSession(g, ns, name).Status.Conditions, v1.ConditionOverdraft)
}

// quietPool is a pool whose sessions need no heartbeat during a spec, and lose their licence at
// once when the limit drops.
func quietPool(p *v1.LicensePool) {
	p.Spec.SessionPolicy.HeartbeatTimeout = dur(time.Hour)
	p.Spec.SessionPolicy.CapacityGracePeriod = dur(0)
}

// expectNotUnderNotice checks that an Active session has no notice of any kind.
func expectNotUnderNotice(g Gomega, s *v1.SharedSession) {
	g.Expect(s.Status.Phase).To(Equal(v1.SessionActive), s.Status.Message)
	g.Expect(s.Status.PreemptedBy).To(BeEmpty())
	g.Expect(s.Status.EndsAt).To(BeNil())
	g.Expect(meta.FindStatusCondition(s.Status.Conditions, v1.ConditionEndingSoon)).To(BeNil())
}

var _ = Describe("Groups and reservations", Label("sessions", "policies"), func() {
	It("keeps the reserved licences for the group's members, lets them use the common ones too, and reports the group", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(3), quietPool, func(p *v1.LicensePool) {
			p.Spec.Groups = []v1.HolderGroup{holderGroup("cfd", []string{"sim-*"}, reserved(2))}
		})
		newSession(ns, "n-1", "p", "ops-1")
		waitActive(ns, "n-1")

		By("a second session of a non-member waits: the other two licences are reserved")
		newSession(ns, "n-2", "p", "ops-2")
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "n-2")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.Status.Message).To(ContainSubstring("the one shared licence of pool p that is not reserved for groups is in use (2 reserved); waiting at position 1 of 1"))
			p := getPool(g, ns, "p")
			g.Expect(p.Status.Sessions.Reserved).To(Equal(int32(2)))
			c := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionReservationsFit)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("members take the reserved licences, though a non-member waits ahead of them")
		newSession(ns, "sim-a", "p", "sim-a")
		newSession(ns, "sim-b", "p", "sim-b")
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"n-1": 0, "n-2": 1, "sim-a": 0, "sim-b": 0}))
			u := groupUsage(g, ns, "p", "cfd")
			g.Expect(u.SessionsActive).To(Equal(int32(2)))
			g.Expect(u.ReservedSessions).To(Equal(int32(2)))
			g.Expect(getPool(g, ns, "p").Status.Sessions.Summary).To(Equal("3/3"))
		}).Should(Succeed())

		By("the common licence that frees goes to the non-member at the head of the queue")
		terminate(ns, "n-1")
		waitActive(ns, "n-2")

		By("with the common licence free, a third member may use it")
		terminate(ns, "n-2")
		waitEnded(ns, "n-2", v1.EndTerminated)
		newSession(ns, "sim-c", "p", "sim-c")
		waitActive(ns, "sim-c")
		Eventually(func(g Gomega) {
			g.Expect(groupUsage(g, ns, "p", "cfd").SessionsActive).To(Equal(int32(3)))
		}).Should(Succeed())

		By("a non-member then waits; when a member ends, the members fit in their reservation and the common licence is free again")
		newSession(ns, "n-3", "p", "ops-3")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "n-3").Status.Phase).To(Equal(v1.SessionWaiting)) }).Should(Succeed())
		terminate(ns, "sim-a")
		waitActive(ns, "n-3")
		Eventually(func(g Gomega) {
			g.Expect(groupUsage(g, ns, "p", "cfd").SessionsActive).To(Equal(int32(2)))
			g.Expect(getPool(g, ns, "p").Status.Sessions.Summary).To(Equal("3/3"))
		}).Should(Succeed())
	})

	It("refuses reservations that together exceed concurrentSessions", func() {
		ns := newNamespace()
		bad := &v1.LicensePool{
			ObjectMeta: objMeta(ns, "too-many"),
			Spec: v1.LicensePoolSpec{Product: "remote-support", ConcurrentSessions: int32p(3), Groups: []v1.HolderGroup{
				holderGroup("cfd", []string{"sim-*"}, reserved(2)),
				holderGroup("cad", []string{"cad-*"}, reserved(2)),
			}},
		}
		Expect(k8s.Create(ctx, bad)).To(MatchError(ContainSubstring("the groups' reservedSessions together exceed concurrentSessions")))

		p := newPool(ns, "p", nil, int32p(4), func(p *v1.LicensePool) { p.Spec.Groups = bad.Spec.Groups })
		err := k8s.Patch(ctx, p, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"concurrentSessions":3}}`)))
		Expect(err).To(MatchError(ContainSubstring("the groups' reservedSessions together exceed concurrentSessions")))
		Expect(getPool(Default, ns, "p").Spec.ConcurrentSessions).To(Equal(int32p(4)), "the refused change left the pool as it was")
	})
})

var _ = Describe("Caps on groups and holders", Label("sessions", "policies"), func() {
	It("holds a member's session at the group's cap without holding up the queue, and counts each holder in its first group", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(5), quietPool, func(p *v1.LicensePool) {
			p.Spec.Groups = []v1.HolderGroup{
				holderGroup("cfd", []string{"sim-*", "*@CFD.example"}, maxSessions(1)),
				// sim-b is listed here too, but belongs to cfd, the first group that matches it.
				holderGroup("batch", []string{"sim-b", "ops-*"}, maxSessions(5)),
			}
		})
		newSession(ns, "a", "p", "sim-a")
		waitActive(ns, "a")
		newSession(ns, "b", "p", "sim-b")
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "b")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.Status.Message).To(ContainSubstring("group cfd may use at most 1 "))
			g.Expect(s.Status.Message).To(ContainSubstring("of pool p (maxSessions) and uses 1"))
			g.Expect(s.Status.Message).To(ContainSubstring("without holding up the queue"))
		}).Should(Succeed())

		By("a non-member behind it in the queue is granted")
		newSession(ns, "c", "p", "ops-1")
		waitActive(ns, "c")
		By("a member named by an e-mail pattern, in another case, is held at the cap too")
		newSession(ns, "d", "p", "ana@cfd.example")
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"a": 0, "b": 1, "c": 0, "d": 2}))
			cfd := groupUsage(g, ns, "p", "cfd")
			g.Expect(cfd.SessionsActive).To(Equal(int32(1)))
			g.Expect(cfd.SessionsWaiting).To(Equal(int32(2)))
			g.Expect(cfd.MaxSessions).To(Equal(int32p(1)))
			batch := groupUsage(g, ns, "p", "batch")
			g.Expect(batch.SessionsActive).To(Equal(int32(1)))
			g.Expect(batch.SessionsWaiting).To(Equal(int32(0)))
		}).Should(Succeed())

		By("when the member's session ends, the next member is granted")
		terminate(ns, "a")
		waitActive(ns, "b")
		Expect(getSession(Default, ns, "d").Status.Phase).To(Equal(v1.SessionWaiting))

		By("a cap lowered below what the group uses takes back its newest licence")
		patchSpec(getPool(Default, ns, "p"), `{"spec":{"groups":[{"name":"cfd","members":["sim-*","*@CFD.example"],"maxSessions":1},{"name":"batch","members":["sim-b","ops-*"],"maxSessions":0}]}}`)
		c := waitEnded(ns, "c", v1.EndCapacityReduced)
		Expect(c.Status.Message).To(HavePrefix("group batch may now use at most 0 "))
		Expect(getSession(Default, ns, "b").Status.Phase).To(Equal(v1.SessionActive))
	})

	It("holds a holder's session at maxPerHolder and grants other holders", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(5), quietPool, func(p *v1.LicensePool) { p.Spec.SessionPolicy.MaxPerHolder = 1 })
		newSession(ns, "a-1", "p", "alice")
		waitActive(ns, "a-1")
		newSession(ns, "a-2", "p", "alice")
		newSession(ns, "b-1", "p", "bob")
		waitActive(ns, "b-1")
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "a-2")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.Status.Message).To(ContainSubstring("alice may use at most 1 "))
			g.Expect(s.Status.Message).To(ContainSubstring("of pool p at once (maxPerHolder) and uses 1"))
			g.Expect(s.Status.Message).To(ContainSubstring("without holding up the queue"))
		}).Should(Succeed())

		terminate(ns, "a-1")
		waitActive(ns, "a-2")
	})

	It("keeps a member's seat Pending at the group's maxSeats and binds a non-member's", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(3), nil, func(p *v1.LicensePool) {
			p.Spec.Groups = []v1.HolderGroup{holderGroup("cfd", []string{"sim-*"}, maxSeats(1))}
		})
		newSeat(ns, "a", "p", "sim-a", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["a"]).To(Equal("Bound/SeatGranted")) }).Should(Succeed())
		newSeat(ns, "b", "p", "sim-b", v1.AssigneeUser)
		newSeat(ns, "c", "p", "ops-1", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			g.Expect(seatPhases(g, ns)).To(Equal(map[string]string{"a": "Bound/SeatGranted", "b": "Pending/GroupLimitReached", "c": "Bound/SeatGranted"}))
			g.Expect(getSeat(g, ns, "b").Status.Message).To(ContainSubstring("group cfd may hold at most 1 "))
			g.Expect(getSeat(g, ns, "b").Status.Message).To(ContainSubstring("of pool p (maxSeats) and holds 1"))
			u := groupUsage(g, ns, "p", "cfd")
			g.Expect(u.SeatsBound).To(Equal(int32(1)))
			g.Expect(u.MaxSeats).To(Equal(int32p(1)))
		}).Should(Succeed())

		By("deleting the member's seat, the next member's binds")
		Expect(k8s.Delete(ctx, getSeat(Default, ns, "a"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(seatPhases(g, ns)).To(Equal(map[string]string{"b": "Bound/SeatGranted", "c": "Bound/SeatGranted"}))
		}).Should(Succeed())
	})
})

var _ = Describe("Overdraft", Label("sessions", "policies"), func() {
	It("grants beyond the limit up to overdraftSessions, marks what is beyond it, and clears the marks as licences free", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(2), quietPool, func(p *v1.LicensePool) { p.Spec.OverdraftSessions = int32p(1) })
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(getPool(g, ns, "p").Status.Conditions, v1.ConditionOverdraft)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "overdraft is allowed and not used")
		}).Should(Succeed())
		for _, n := range []string{"s-1", "s-2", "s-3"} {
			newSession(ns, n, "p", "agent-"+n)
			waitActive(ns, n)
		}
		Eventually(func(g Gomega) {
			g.Expect(inOverdraft(g, ns, "s-3")).To(BeTrue())
			g.Expect(sessionCondition(g, ns, "s-1", v1.ConditionOverdraft)).To(BeNil())
			g.Expect(sessionCondition(g, ns, "s-2", v1.ConditionOverdraft)).To(BeNil())
			p := getPool(g, ns, "p")
			g.Expect(p.Status.Sessions.Overdraft).To(Equal(int32(1)))
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1.ConditionOverdraft)).To(BeTrue())
			g.Expect(sessionLedger(g, ns, "p")).To(HaveLen(3))
			g.Expect(getSession(g, ns, "s-3").Status.Message).To(Equal("agent-s-3 holds a shared licence of pool p, beyond its limit of 2 (overdraft)"))
			g.Expect(warnings(g, ns)).To(ContainElement("SharedSession/s-3 OverdraftGranted: holds a licence beyond pool p's limit of 2 (overdraft: 1 allowed)"))
		}).Should(Succeed())

		By("no more than overdraftSessions beyond the limit: a fourth waits")
		newSession(ns, "s-4", "p", "agent-s-4")
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-4")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.Status.Message).To(Equal("all 2 shared licences of pool p and its 1 of overdraft are in use; waiting at position 1 of 1"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(countSessions(sessionsIn(g, ns), v1.SessionActive)).To(Equal(3))
		}, "1s").Should(Succeed())

		By("one of the first two ends: s-3 is within the limit now, and s-4 takes the overdraft")
		terminate(ns, "s-1")
		waitActive(ns, "s-4")
		Eventually(func(g Gomega) {
			g.Expect(sessionCondition(g, ns, "s-3", v1.ConditionOverdraft)).To(BeNil())
			g.Expect(inOverdraft(g, ns, "s-4")).To(BeTrue())
			g.Expect(getPool(g, ns, "p").Status.Sessions.Overdraft).To(Equal(int32(1)))
		}).Should(Succeed())

		By("two more end: nothing is beyond the limit, and the marks are gone")
		terminate(ns, "s-2")
		terminate(ns, "s-3")
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"s-4": 0}))
			g.Expect(sessionCondition(g, ns, "s-4", v1.ConditionOverdraft)).To(BeNil())
			p := getPool(g, ns, "p")
			g.Expect(p.Status.Sessions.Overdraft).To(Equal(int32(0)))
			c := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionOverdraft)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		}).Should(Succeed())
	})

	It("takes back the overdraft first when the limit or the overdraft is lowered", func() {
		ns := newNamespace()
		p := newPool(ns, "p", nil, int32p(2), quietPool, func(p *v1.LicensePool) { p.Spec.OverdraftSessions = int32p(1) })
		for _, n := range []string{"s-1", "s-2", "s-3"} {
			newSession(ns, n, "p", "agent-"+n)
			waitActive(ns, n)
		}
		Eventually(func(g Gomega) { g.Expect(inOverdraft(g, ns, "s-3")).To(BeTrue()) }).Should(Succeed())

		By("without overdraft, the session beyond the limit ends")
		patchSpec(p, `{"spec":{"overdraftSessions":0}}`)
		waitEnded(ns, "s-3", v1.EndCapacityReduced)
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"s-1": 0, "s-2": 0}))
			pool := getPool(g, ns, "p")
			g.Expect(pool.Status.Sessions.Overdraft).To(Equal(int32(0)))
			g.Expect(meta.FindStatusCondition(pool.Status.Conditions, v1.ConditionOverdraft)).To(BeNil(), "no overdraft is allowed")
		}).Should(Succeed())

		By("with overdraft again, s-4 takes it; lowering the limit to 1 ends s-4, and s-2 is then beyond the limit")
		patchSpec(p, `{"spec":{"overdraftSessions":1}}`)
		newSession(ns, "s-4", "p", "agent-s-4")
		waitActive(ns, "s-4")
		Eventually(func(g Gomega) { g.Expect(inOverdraft(g, ns, "s-4")).To(BeTrue()) }).Should(Succeed())
		patchSpec(p, `{"spec":{"concurrentSessions":1}}`)
		waitEnded(ns, "s-4", v1.EndCapacityReduced)
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"s-1": 0, "s-2": 0}))
			g.Expect(inOverdraft(g, ns, "s-2")).To(BeTrue())
			g.Expect(sessionCondition(g, ns, "s-1", v1.ConditionOverdraft)).To(BeNil())
			g.Expect(getPool(g, ns, "p").Status.Sessions.Overdraft).To(Equal(int32(1)))
		}).Should(Succeed())
	})
})

var _ = Describe("Preemption", Label("sessions", "policies"), func() {
	preemptingPool := func(grace time.Duration) func(*v1.LicensePool) {
		return func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = dur(time.Hour)
			p.Spec.SessionPolicy.Preemption = &v1.Preemption{Policy: v1.PreemptLowerPriority, GracePeriod: dur(grace)}
		}
	}

	It("gives the most recent session of lower priority notice and ends it after the grace period, but never for the same priority", func() {
		ns := newNamespace()
		// Long enough for the waiting session to announce its wait before the notice runs out.
		newPool(ns, "p", nil, int32p(1), preemptingPool(3*time.Second))
		newSession(ns, "low", "p", "alice")
		waitActive(ns, "low")

		By("a session of the same priority just waits")
		newSession(ns, "same", "p", "bob")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "same").Status.Phase).To(Equal(v1.SessionWaiting)) }).Should(Succeed())
		Consistently(func(g Gomega) { expectNotUnderNotice(g, getSession(g, ns, "low")) }, "1500ms").Should(Succeed())

		By("a session of higher priority: low is told, and keeps its licence for the grace period")
		newSession(ns, "high", "p", "carol", priority(10))
		var endsAt time.Time
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "low")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(s.Status.PreemptedBy).To(Equal("high"))
			g.Expect(s.Status.EndsAt).NotTo(BeNil())
			c := meta.FindStatusCondition(s.Status.Conditions, v1.ConditionEndingSoon)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(string(v1.EndPreempted)))
			g.Expect(s.Status.Message).To(HavePrefix("session high, of higher priority (10 over 0), takes its licence of pool p: alice keeps this one until "))
			g.Expect(warnings(g, ns)).To(ContainElement(HavePrefix("SharedSession/low Preempting: session high, of higher priority, takes this session's licence at ")))
			endsAt = s.Status.EndsAt.Time
		}).Should(Succeed())
		Expect(endsAt.Sub(getSession(Default, ns, "high").CreationTimestamp.Time)).To(BeNumerically("~", 3*time.Second, 1500*time.Millisecond))
		// Its wait is announced only once it has lasted a second: it may have no phase yet.
		Expect(getSession(Default, ns, "high").Status.Phase).NotTo(Equal(v1.SessionActive))
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "high").Status.Message).To(HavePrefix("low gives back its licences to this session at "))
		}).Should(Succeed())

		By("when the grace period runs out, low ends Preempted and high takes its licence")
		low := waitEnded(ns, "low", v1.EndPreempted)
		Expect(low.Status.Message).To(Equal("session high, of higher priority, took its licence of pool p (preemption)"))
		Expect(low.Status.PreemptedBy).To(BeEmpty(), "an Ended session is no longer under notice")
		expectLag("preemption grace period", low.Status.EndedAt.Time, endsAt)
		waitActive(ns, "high")
		Expect(getSession(Default, ns, "same").Status.Phase).To(Equal(v1.SessionWaiting))
	})

	It("gives each session of lower priority one notice, for one waiting session", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(2), preemptingPool(3*time.Second))
		newSession(ns, "low-1", "p", "alice")
		waitActive(ns, "low-1")
		newSession(ns, "low-2", "p", "bob")
		waitActive(ns, "low-2")
		newSession(ns, "high-1", "p", "carol", priority(10))
		newSession(ns, "high-2", "p", "dan", priority(10))
		notices := func(g Gomega) []string {
			return []string{getSession(g, ns, "low-1").Status.PreemptedBy, getSession(g, ns, "low-2").Status.PreemptedBy}
		}
		Eventually(func(g Gomega) {
			g.Expect(notices(g)).To(ConsistOf("high-1", "high-2"))
		}).Should(Succeed())
		first := notices(Default)
		Consistently(func(g Gomega) {
			g.Expect(notices(g)).To(Equal(first), "a session under notice is not picked again")
		}, "1s").Should(Succeed())

		waitEnded(ns, "low-1", v1.EndPreempted)
		waitEnded(ns, "low-2", v1.EndPreempted)
		waitActive(ns, "high-1")
		waitActive(ns, "high-2")
	})

	It("withdraws the notice when the waiting session goes away", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), preemptingPool(time.Minute))
		newSession(ns, "low", "p", "alice")
		waitActive(ns, "low")
		newSession(ns, "high", "p", "carol", priority(10))
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "low").Status.PreemptedBy).To(Equal("high")) }).Should(Succeed())

		Expect(k8s.Delete(ctx, getSession(Default, ns, "high"))).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "low")
			expectNotUnderNotice(g, s)
			g.Expect(s.Status.Message).To(Equal("alice holds a shared licence of pool p"))
		}).Should(Succeed())
		Consistently(func(g Gomega) { expectNotUnderNotice(g, getSession(g, ns, "low")) }, "1s").Should(Succeed())
	})
})
