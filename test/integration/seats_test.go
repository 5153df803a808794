package integration

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

var _ = Describe("Named seats", Label("seats"), func() {
	It("binds 25 of 30 in creation order, refills on disable, grows and shrinks with the limit", func() {
		ns := newNamespace()
		pool := newPool(ns, "remote-support", int32p(25), nil)
		for i := range 30 {
			newSeat(ns, fmt.Sprintf("tech-%02d", i), pool.Name, fmt.Sprintf("tech%02d@acme.example", i), v1.AssigneeUser)
		}
		Eventually(func(g Gomega) {
			items := seatsIn(g, ns)
			g.Expect(countSeats(items, v1.SeatBound)).To(Equal(25))
			for _, s := range items[25:] {
				g.Expect(s.Status.Phase).To(Equal(v1.SeatPending))
				g.Expect(s.Status.Reason).To(Equal(v1.SeatReasonLicensesNotAvailable))
				g.Expect(s.Status.Message).To(ContainSubstring("no seat free in pool remote-support (25/25 bound)"))
			}
			p := getPool(g, ns, pool.Name)
			g.Expect(p.Status.Seats.Summary).To(Equal("25/25"))
			g.Expect(p.Status.Seats.Pending).To(Equal(int32(5)))
		}).Should(Succeed())

		By("switching one seat off, the oldest pending one binds")
		patchSpec(getSeat(Default, ns, "tech-03"), `{"spec":{"enabled":false}}`)
		Eventually(func(g Gomega) {
			ph := seatPhases(g, ns)
			g.Expect(ph["tech-03"]).To(Equal("Disabled/Disabled"))
			g.Expect(ph["tech-25"]).To(Equal("Bound/SeatGranted"))
			g.Expect(ph["tech-26"]).To(Equal("Pending/LicensesNotAvailable"))
		}).Should(Succeed())

		By("raising the limit, more bind")
		patchSpec(pool, `{"spec":{"seats":27}}`)
		Eventually(func(g Gomega) {
			ph := seatPhases(g, ns)
			g.Expect(ph["tech-26"]).To(Equal("Bound/SeatGranted"))
			g.Expect(ph["tech-27"]).To(Equal("Bound/SeatGranted"))
			g.Expect(ph["tech-28"]).To(Equal("Pending/LicensesNotAvailable"))
		}).Should(Succeed())

		By("lowering it, the most recently bound go back to Pending")
		patchSpec(pool, `{"spec":{"seats":24}}`)
		Eventually(func(g Gomega) {
			items := seatsIn(g, ns)
			g.Expect(countSeats(items, v1.SeatBound)).To(Equal(24))
			ph := seatPhases(g, ns)
			g.Expect(ph["tech-26"]).To(Equal("Pending/CapacityReduced"))
			g.Expect(ph["tech-27"]).To(Equal("Pending/CapacityReduced"))
			g.Expect(ph["tech-24"]).To(Equal("Bound/SeatGranted"))
		}).Should(Succeed())
	})

	It("binds everyone in an unlimited pool, users and devices alike", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, nil)
		newSeat(ns, "tech", "p", "alice@acme.example", v1.AssigneeUser)
		newSeat(ns, "kiosk", "p", "kiosk-7", v1.AssigneeDevice)
		Eventually(func(g Gomega) {
			g.Expect(seatPhases(g, ns)).To(Equal(map[string]string{"tech": "Bound/SeatGranted", "kiosk": "Bound/SeatGranted"}))
			p := getPool(g, ns, "p")
			g.Expect(p.Status.Seats.Summary).To(Equal("2/∞"))
			g.Expect(p.Status.Seats.Limit).To(BeNil())
			g.Expect(p.Status.Ledger).To(BeNil())
		}).Should(Succeed())
	})

	It("counts users and devices against one limit", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(1), nil)
		newSeat(ns, "kiosk", "p", "kiosk-7", v1.AssigneeDevice)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["kiosk"]).To(Equal("Bound/SeatGranted")) }).Should(Succeed())
		newSeat(ns, "tech", "p", "alice", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["tech"]).To(Equal("Pending/LicensesNotAvailable")) }).Should(Succeed())
	})

	It("waits for a missing pool and binds once it appears", func() {
		ns := newNamespace()
		newSeat(ns, "tech", "later", "alice", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			s := getSeat(g, ns, "tech")
			g.Expect(s.Status.Reason).To(Equal(v1.SeatReasonPoolNotFound))
			g.Expect(s.Status.Message).To(ContainSubstring("pool later does not exist"))
		}).Should(Succeed())
		newPool(ns, "later", int32p(1), nil)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["tech"]).To(Equal("Bound/SeatGranted")) }).Should(Succeed())
	})

	It("gives one person one seat whatever the case of their e-mail address", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(5), nil)
		newSeat(ns, "lower", "p", "u1@x.example", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["lower"]).To(Equal("Bound/SeatGranted")) }).Should(Succeed())
		newSeat(ns, "upper", "p", "U1@X.EXAMPLE", v1.AssigneeUser)
		newSeat(ns, "kiosk", "p", "KIOSK@lobby", v1.AssigneeDevice)
		newSeat(ns, "kiosk-lower", "p", "kiosk@lobby", v1.AssigneeDevice)
		Eventually(func(g Gomega) {
			phases := seatPhases(g, ns)
			g.Expect(phases["upper"]).To(Equal("Pending/DuplicateAssignee"))
			g.Expect(getSeat(g, ns, "upper").Status.Message).To(Equal("user U1@X.EXAMPLE already has seat lower in pool p; delete or switch off one of the two"))
			g.Expect(phases["kiosk"]).To(Equal("Bound/SeatGranted"), "device ids compare exactly")
			g.Expect(phases["kiosk-lower"]).To(Equal("Bound/SeatGranted"))
			g.Expect(getPool(g, ns, "p").Status.Seats.Bound).To(BeEquivalentTo(3))
		}).Should(Succeed())
	})

	It("keeps the later of two seats for one assignee Pending", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(5), nil)
		newSeat(ns, "first", "p", "alice", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["first"]).To(Equal("Bound/SeatGranted")) }).Should(Succeed())
		newSeat(ns, "second", "p", "alice", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			s := getSeat(g, ns, "second")
			g.Expect(s.Status.Reason).To(Equal(v1.SeatReasonDuplicateAssignee))
			g.Expect(s.Status.Message).To(Equal("user alice already has seat first in pool p; delete or switch off one of the two"))
		}).Should(Succeed())
	})

	It("counts only seats waiting for one in the SeatsExhausted event, not duplicates", func() {
		ns := newNamespace()
		// All three are there when the pool first fills, so its one SeatsExhausted event
		// counts them: the duplicate does not wait for a seat, bob does.
		newSeat(ns, "a", "p", "alice@acme.example", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["a"]).To(Equal("Pending/PoolNotFound")) }).Should(Succeed())
		newSeat(ns, "a-again", "p", "Alice@acme.example", v1.AssigneeUser)
		newSeat(ns, "b", "p", "bob@acme.example", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			g.Expect(seatPhases(g, ns)).To(Equal(map[string]string{"a": "Pending/PoolNotFound", "a-again": "Pending/PoolNotFound", "b": "Pending/PoolNotFound"}))
		}).Should(Succeed())
		newPool(ns, "p", int32p(1), nil)
		var events eventsList
		Eventually(func(g Gomega) {
			g.Expect(seatPhases(g, ns)).To(Equal(map[string]string{"a": "Bound/SeatGranted", "a-again": "Pending/DuplicateAssignee", "b": "Pending/LicensesNotAvailable"}))
			c := meta.FindStatusCondition(getPool(g, ns, "p").Status.Conditions, v1.ConditionSeatsExhausted)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(Equal("every seat is bound (1/1), 1 waiting for one"))
			g.Expect(events.list(g, ns)).To(ContainElement("LicensePool/p SeatsExhausted: every seat is bound (1/1), 1 waiting for one"))
		}).Should(Succeed())
	})

	It("records events for bound, revoked and exhausted", func() {
		ns := newNamespace()
		pool := newPool(ns, "p", int32p(1), nil)
		newSeat(ns, "a", "p", "alice", v1.AssigneeUser)
		newSeat(ns, "b", "p", "bob", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(seatPhases(g, ns)["b"]).To(Equal("Pending/LicensesNotAvailable")) }).Should(Succeed())
		patchSpec(pool, `{"spec":{"seats":0}}`)
		var events eventsList
		Eventually(func(g Gomega) {
			g.Expect(events.reasons(g, ns)).To(ContainElements("SeatBound", "SeatRevoked", "SeatsExhausted", "LicensesNotAvailable"))
		}).Should(Succeed())
	})
})
