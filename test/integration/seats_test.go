package integration

import (
	"fmt"

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
})
