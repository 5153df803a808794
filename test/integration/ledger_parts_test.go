package integration

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The suite's operators keep at most testPartSize holders of a kind in one part of a ledger.
var _ = Describe("A ledger of several parts", Label("sessions", "ledger"), func() {
	It("records every holder once, each part within its share, and gives parts back as the limit drops", func() {
		ns := newNamespace()
		pool := newPool(ns, "p", nil, int32p(5), func(p *v1.LicensePool) { p.Spec.SessionPolicy.CapacityGracePeriod = dur(0) })
		for i := range 7 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
		}
		active := func(g Gomega) map[string]bool {
			out := map[string]bool{}
			for _, s := range sessionsIn(g, ns) {
				if s.Status.Phase == v1.SessionActive {
					out[s.Name] = true
				}
			}
			return out
		}
		Eventually(func(g Gomega) {
			holders := active(g)
			g.Expect(holders).To(HaveLen(5))
			ledger := sessionLedger(g, ns, "p")
			g.Expect(ledger).To(HaveLen(5))
			for n := range holders {
				g.Expect(ledger).To(HaveKey(n))
			}
		}).Should(Succeed())

		By("parts 1 and 2 are LicenseLedgers owned by the pool, each within its share of 2, 2 and 1")
		var parts v1.LicenseLedgerList
		Expect(k8s.List(ctx, &parts, client.InNamespace(ns))).To(Succeed())
		Expect(parts.Items).To(HaveLen(2))
		total := len(getPool(Default, ns, "p").Status.Ledger.Sessions.Holders)
		Expect(total).To(BeNumerically("<=", 2))
		for _, p := range parts.Items {
			Expect(p.Name).To(Equal(fmt.Sprintf("p.ledger-%d", p.Spec.Part)))
			Expect(p.OwnerReferences).To(HaveLen(1))
			Expect(p.OwnerReferences[0].UID).To(Equal(pool.UID))
			Expect(len(p.Status.Sessions.Holders)).To(BeNumerically("<=", min(2, 5-2*int(p.Spec.Part))))
			total += len(p.Status.Sessions.Holders)
		}
		Expect(total).To(Equal(5), "each holder is recorded once")

		By("a limit of 1 ends the newest grants, and the ledger fits in the pool's status again")
		patchSpec(getPool(Default, ns, "p"), `{"spec":{"concurrentSessions":1}}`)
		Eventually(func(g Gomega) {
			g.Expect(active(g)).To(HaveLen(1))
			var parts v1.LicenseLedgerList
			g.Expect(k8s.List(ctx, &parts, client.InNamespace(ns))).To(Succeed())
			g.Expect(parts.Items).To(BeEmpty(), "parts left with nothing are deleted")
			g.Expect(getPool(g, ns, "p").Status.Ledger.Sessions.Holders).To(HaveLen(1))
		}).Should(Succeed())
	})
})
