package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// promisedNames are the sessions the pool's ledger promises licences to, in order.
func promisedNames(g Gomega, ns, pool string) []string {
	var out []string
	if l := getPool(g, ns, pool).Status.Ledger; l != nil {
		for _, p := range l.Promises {
			out = append(out, p.Name)
		}
	}
	return out
}

var _ = Describe("Promises", Label("promises"), func() {
	It("promises the next licences to the head of a long queue, and hands a freed one over at once, never over the limit", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(2))
		holders := observeHolders(ns, &v1.SharedSessionList{}, sessionHolds)
		for i := range 8 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
			time.Sleep(5 * time.Millisecond) // one after the other: the queue's order is their age
		}
		By("the first two hold; the queue's head shows its promise, and the ledger names it")
		Eventually(func(g Gomega) {
			g.Expect(countSessions(sessionsIn(g, ns), v1.SessionActive)).To(Equal(2))
			promised := promisedNames(g, ns, "p")
			g.Expect(promised).NotTo(BeEmpty())
			g.Expect(promised[0]).To(Equal("s-2"))
			l := getPool(g, ns, "p").Status.Ledger
			for _, p := range l.Promises {
				s := getSession(g, ns, p.Name)
				g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
				g.Expect(s.Status.Promise).To(Equal(p.Token), p.Name)
				g.Expect(s.UID).To(Equal(p.UID))
			}
		}).Should(Succeed())

		By("a holder leaves: the promised session is granted, and the ledger then records it")
		Expect(k8s.Delete(ctx, getSession(Default, ns, "s-0"))).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-2")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(s.Status.Promise).To(BeEmpty(), "an Active session holds no promise")
			g.Expect(sessionLedger(g, ns, "p")).To(HaveKey("s-2"))
			g.Expect(promisedNames(g, ns, "p")).NotTo(ContainElement("s-2"))
		}).Should(Succeed())

		By("holders leave one after the other: each licence goes to the next in line, in order")
		for _, gone := range []string{"s-1", "s-2", "s-3", "s-4"} {
			Expect(k8s.Delete(ctx, getSession(Default, ns, gone))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, n := range []string{"s-5", "s-6"} {
				g.Expect(getSession(g, ns, n).Status.Phase).To(Equal(v1.SessionActive), n)
			}
			g.Expect(getSession(g, ns, "s-7").Status.Phase).To(Equal(v1.SessionWaiting))
		}).Should(Succeed())
		Expect(holders.Stop()).To(BeNumerically("<=", 2), "never more than the limit Active at any version")
	})

	It("takes a promise back before its session loses its place to one of higher priority", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		for i := range 4 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
			time.Sleep(5 * time.Millisecond)
		}
		Eventually(func(g Gomega) { g.Expect(promisedNames(g, ns, "p")).To(HaveLen(3)) }).Should(Succeed())
		holders := observeHolders(ns, &v1.SharedSessionList{}, sessionHolds)
		newSession(ns, "urgent", "p", "agent-u", func(s *v1.SharedSession) { s.Spec.Priority = 10 })

		By("the urgent session is first in line, and first in the ledger's promises")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "urgent").Status.QueuePosition).To(Equal(int32(1)))
			promised := promisedNames(g, ns, "p")
			g.Expect(promised).NotTo(BeEmpty())
			g.Expect(promised[0]).To(Equal("urgent"))
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, getSession(Default, ns, "s-0"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "urgent").Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(getSession(g, ns, "s-1").Status.Phase).To(Equal(v1.SessionWaiting))
		}).Should(Succeed())
		Expect(holders.Stop()).To(BeNumerically("<=", 1))
	})

	It("makes no promises in a pool with groups, and takes back those made before they were set", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		for i := range 4 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
		}
		Eventually(func(g Gomega) { g.Expect(promisedNames(g, ns, "p")).NotTo(BeEmpty()) }).Should(Succeed())
		patchSpec(getPool(Default, ns, "p"), `{"spec":{"groups":[{"name":"all","members":["*"],"maxSessions":1}]}}`)
		Eventually(func(g Gomega) {
			g.Expect(promisedNames(g, ns, "p")).To(BeEmpty())
			for _, s := range sessionsIn(g, ns) {
				g.Expect(s.Status.Promise).To(BeEmpty(), s.Name)
			}
		}).Should(Succeed())
	})
})
