package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// positions maps waiting session name to queue position; active ones map to 0.
func positions(g Gomega, ns string) map[string]int32 {
	out := map[string]int32{}
	for _, s := range sessionsIn(g, ns) {
		switch s.Status.Phase {
		case v1.SessionWaiting:
			out[s.Name] = s.Status.QueuePosition
		case v1.SessionActive:
			out[s.Name] = 0
		}
	}
	return out
}

var _ = Describe("Shared sessions", Label("sessions"), func() {
	It("announces a wait once it has lasted a second, and reports grants made together in one Event", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(0))
		for i := range 3 {
			newSession(ns, fmt.Sprintf("a-%d", i), "p", fmt.Sprintf("agent-%d", i))
		}
		Eventually(func(g Gomega) {
			for _, s := range sessionsIn(g, ns) {
				g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
				c := meta.FindStatusCondition(s.Status.Conditions, v1.ConditionGranted)
				g.Expect(c).NotTo(BeNil())
				// Both times have whole seconds; the announcement comes a second after the
				// operator first saw the session, so at least a second after its creation.
				g.Expect(c.LastTransitionTime.Sub(s.CreationTimestamp.Time)).To(BeNumerically(">=", time.Second), s.Name)
			}
		}).Should(Succeed())

		By("raising the limit, one pass grants all three: one Event on the pool names them")
		patchSpec(getPool(Default, ns, "p"), `{"spec":{"concurrentSessions":3}}`)
		var events eventsList
		Eventually(func(g Gomega) {
			g.Expect(events.list(g, ns)).To(ContainElement("LicensePool/p Granted: 3 sessions of pool p: a-0, a-1, a-2"))
		}).Should(Succeed())
		Expect(events.regarding(Default, ns, "Granted")).To(ContainElement(getPool(Default, ns, "p").UID),
			"the Event names the pool by UID, so that kubectl describe shows it")

		By("the ledger records each holder with its UID")
		holders := sessionLedger(Default, ns, "p")
		Expect(holders).To(HaveLen(3))
		for _, n := range []string{"a-0", "a-1", "a-2"} {
			Expect(holders).To(HaveKeyWithValue(n, getSession(Default, ns, n).UID))
		}

		By("a session granted within its first second is never written Waiting")
		newSession(ns, "b", "p", "agent-b")
		Expect(k8s.Delete(ctx, getSession(Default, ns, "a-0"))).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "b").Status.Phase).To(Equal(v1.SessionActive)) }).Should(Succeed())
		// Events are sent by the recorder after the write: wait for the grant's, then check
		// that no Queued came before it.
		Eventually(func(g Gomega) {
			g.Expect(events.list(g, ns)).To(ContainElement(HavePrefix("SharedSession/b Granted: ")))
		}).Should(Succeed())
		Expect(events.list(Default, ns)).NotTo(ContainElement(HavePrefix("SharedSession/b Queued")))
	})

	It("grants 10 of 15, queues 5 in order, and serves the head when a licence frees", func() {
		ns := newNamespace()
		newPool(ns, "remote-support", nil, int32p(10))
		for i := range 15 {
			newSession(ns, fmt.Sprintf("s-%02d", i), "remote-support", fmt.Sprintf("agent-%02d", i))
		}
		Eventually(func(g Gomega) {
			items := sessionsIn(g, ns)
			g.Expect(countSessions(items, v1.SessionActive)).To(Equal(10))
			for i, s := range items[10:] {
				g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
				g.Expect(s.Status.QueuePosition).To(Equal(int32(i + 1)))
				g.Expect(s.Status.Message).To(Equal(fmt.Sprintf("all 10 shared licences of pool remote-support are in use; waiting at position %d of 5", i+1)))
			}
			for _, s := range items[:10] {
				g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1.ConditionGranted)).To(BeTrue())
			}
			p := getPool(g, ns, "remote-support")
			g.Expect(p.Status.Sessions.Summary).To(Equal("10/10"))
			g.Expect(p.Status.Sessions.Waiting).To(Equal(int32(5)))
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1.ConditionSessionsExhausted)).To(BeTrue())
		}).Should(Succeed())

		By("terminating one, position 1 becomes Active and the others move up")
		patchSpec(getSession(Default, ns, "s-03"), `{"spec":{"terminate":true}}`)
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-03")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionEnded))
			g.Expect(s.Status.EndReason).To(Equal(v1.EndTerminated))
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{
				"s-00": 0, "s-01": 0, "s-02": 0, "s-04": 0, "s-05": 0, "s-06": 0, "s-07": 0, "s-08": 0, "s-09": 0,
				"s-10": 0, "s-11": 1, "s-12": 2, "s-13": 3, "s-14": 4}))
		}).Should(Succeed())

		By("deleting one, the same")
		Expect(k8s.Delete(ctx, getSession(Default, ns, "s-04"))).To(Succeed())
		Eventually(func(g Gomega) {
			p := positions(g, ns)
			g.Expect(p["s-11"]).To(Equal(int32(0)))
			g.Expect(p["s-12"]).To(Equal(int32(1)))
			g.Expect(p["s-14"]).To(Equal(int32(3)))
		}).Should(Succeed())

		By("raising the limit to 12, two more become Active")
		patchSpec(getPool(Default, ns, "remote-support"), `{"spec":{"concurrentSessions":12}}`)
		Eventually(func(g Gomega) {
			p := positions(g, ns)
			g.Expect(p["s-12"]).To(Equal(int32(0)))
			g.Expect(p["s-13"]).To(Equal(int32(0)))
			g.Expect(p["s-14"]).To(Equal(int32(1)))
		}).Should(Succeed())
	})

	It("ends a session that stops heartbeating and gives its licence to the head of the queue", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = &metav1.Duration{Duration: 5 * time.Second}
		})
		newSession(ns, "a", "p", "alice")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "a").Status.Phase).To(Equal(v1.SessionActive)) }).Should(Succeed())
		newSession(ns, "b", "p", "bob")
		keepRenewing(ns, "b") // bob heartbeats; alice does not
		Eventually(func(g Gomega) {
			a := getSession(g, ns, "a")
			g.Expect(a.Status.Phase).To(Equal(v1.SessionEnded))
			g.Expect(a.Status.EndReason).To(Equal(v1.EndHeartbeatExpired))
			lag := a.Status.EndedAt.Sub(a.CreationTimestamp.Add(5 * time.Second))
			GinkgoWriter.Printf("heartbeat expiry lag: %v\n", lag)
			g.Expect(lag).To(BeNumerically("<", 2*time.Second)) // creationTimestamp is truncated to the second
			g.Expect(getSession(g, ns, "b").Status.Phase).To(Equal(v1.SessionActive))
		}, 10*time.Second).Should(Succeed())
	})
})

var _ = Describe("Heartbeats", Label("sessions", "heartbeat"), func() {
	It("cost the operator no write: the session and the pool keep the version the heartbeat left", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(5))
		for i := range 5 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
		}
		Eventually(func(g Gomega) {
			g.Expect(countSessions(sessionsIn(g, ns), v1.SessionActive)).To(Equal(5))
		}).Should(Succeed())
		// Let the operator's own follow-up writes settle: the pool's version stops moving.
		var poolRV string
		Eventually(func() bool {
			prev := poolRV
			poolRV = getPool(Default, ns, "p").ResourceVersion
			return prev == poolRV
		}).WithPolling(500 * time.Millisecond).Should(BeTrue())
		for range 10 {
			for i := range 5 {
				heartbeat(ns, fmt.Sprintf("s-%d", i))
			}
		}
		after := map[string]string{}
		for _, s := range sessionsIn(Default, ns) {
			after[s.Name] = s.ResourceVersion
		}
		Consistently(func(g Gomega) {
			g.Expect(getPool(g, ns, "p").ResourceVersion).To(Equal(poolRV), "the pool was written")
			for _, s := range sessionsIn(g, ns) {
				g.Expect(s.ResourceVersion).To(Equal(after[s.Name]), "session %s was written after its heartbeat", s.Name)
			}
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
	})
})

var _ = Describe("A long queue", Label("sessions"), func() {
	It("keeps the head's positions current at once and the rest within the tail refresh", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		for i := range 30 {
			newSession(ns, fmt.Sprintf("s-%02d", i), "p", fmt.Sprintf("agent-%02d", i))
		}
		expect := func(g Gomega, first int) {
			for i, s := range sessionsIn(g, ns)[first+1:] {
				g.Expect(s.Status.QueuePosition).To(Equal(int32(i+1)), s.Name)
			}
		}
		Eventually(func(g Gomega) { expect(g, 0) }).Should(Succeed())
		Expect(k8s.Delete(ctx, getSession(Default, ns, "s-00"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "s-01").Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(getSession(g, ns, "s-02").Status.QueuePosition).To(Equal(int32(1)))
			g.Expect(getSession(g, ns, "s-21").Status.QueuePosition).To(Equal(int32(20)))
		}, 2*time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			all := sessionsIn(g, ns)
			for i, s := range all[1:] {
				g.Expect(s.Status.QueuePosition).To(Equal(int32(i+1)), s.Name)
			}
		}, 10*time.Second).Should(Succeed())
	})
})

var _ = Describe("A session held back by a finalizer", Label("sessions"), func() {
	It("ends before its licence goes to the next in line", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		newSession(ns, "a", "p", "alice", func(s *v1.SharedSession) { s.Finalizers = []string{"example.com/keep"} })
		waitActive(ns, "a")
		newSession(ns, "b", "p", "bob")
		obs := observeHolders(ns, &v1.SharedSessionList{}, sessionHolds)
		Expect(k8s.Delete(ctx, getSession(Default, ns, "a"))).To(Succeed())
		waitEnded(ns, "a", v1.EndTerminated)
		waitActive(ns, "b")
		Expect(obs.Stop()).To(BeNumerically("<=", 1))
		a := getSession(Default, ns, "a")
		a.Finalizers = nil
		Expect(k8s.Update(ctx, a)).To(Succeed())
	})
})
