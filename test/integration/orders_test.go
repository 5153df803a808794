package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func newOrder(customer string, mutate func(*v1.CustomerOrder), items ...v1.OrderItem) *v1.CustomerOrder {
	GinkgoHelper()
	o := &v1.CustomerOrder{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "po-"},
		Spec:       v1.CustomerOrderSpec{Customer: customer, Items: items},
	}
	if mutate != nil {
		mutate(o)
	}
	Expect(k8s.Create(ctx, o)).To(Succeed())
	DeferCleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(ctx, o)) })
	return o
}

func getOrder(g Gomega, name string) *v1.CustomerOrder {
	o := &v1.CustomerOrder{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, o)).To(Succeed())
	return o
}

// fulfilled is the order's Fulfilled condition; empty while the operator has not set it.
func fulfilled(o *v1.CustomerOrder) metav1.Condition {
	if c := meta.FindStatusCondition(o.Status.Conditions, v1.ConditionFulfilled); c != nil {
		return *c
	}
	return metav1.Condition{}
}

var _ = Describe("Customer orders", Label("orders"), func() {
	It("changes nothing while unassigned, and creates the pool with its capacity once assigned", func() {
		ns := newNamespace()
		o := newOrder("", nil, v1.OrderItem{Product: "remote-support", Seats: 5, ConcurrentSessions: 2})
		Eventually(func(g Gomega) {
			got := getOrder(g, o.Name)
			g.Expect(got.Status.Phase).To(Equal(v1.OrderUnassigned))
			g.Expect(fulfilled(got).Status).To(Equal(metav1.ConditionFalse))
		}).Should(Succeed())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "remote-support"}, &v1.LicensePool{}))).To(BeTrue())

		patchSpec(o, fmt.Sprintf(`{"spec":{"customer":%q}}`, ns))
		Eventually(func(g Gomega) {
			got := getOrder(g, o.Name)
			g.Expect(got.Status.Phase).To(Equal(v1.OrderActive))
			g.Expect(fulfilled(got).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(fulfilled(got).Message).To(Equal(fmt.Sprintf("adds 5 seats and 2 shared licences to pool remote-support in namespace %s", ns)))
			g.Expect(got.Status.Pools).To(Equal([]v1.OrderPool{{Namespace: ns, Name: "remote-support", Seats: 5, ConcurrentSessions: 2}}))
			p := getPool(g, ns, "remote-support")
			g.Expect(p.Spec.Product).To(Equal("remote-support"))
			g.Expect(*p.Spec.Seats).To(Equal(int32(0)))
			g.Expect(p.Status.Seats.Summary).To(Equal("0/5"))
			g.Expect(p.Status.Sessions.Summary).To(Equal("0/2"))
			g.Expect(p.Status.Orders).To(HaveLen(1))
		}).Should(Succeed())

		By("deleting the order, its capacity goes and the pool stays")
		Expect(k8s.Delete(ctx, o)).To(Succeed())
		Eventually(func(g Gomega) {
			p := getPool(g, ns, "remote-support")
			g.Expect(p.Status.Seats.Summary).To(Equal("0/0"))
			g.Expect(p.Status.Orders).To(BeEmpty())
		}).Should(Succeed())
	})

	It("adds up several orders, and takes back the newest seats when one expires", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(1), nil)
		expires := time.Now().Truncate(time.Second).Add(4 * time.Second)
		newOrder(ns, nil, v1.OrderItem{Product: "remote-support", PoolName: "p", Seats: 2})
		short := newOrder(ns, func(o *v1.CustomerOrder) { o.Spec.ExpiresAt = &metav1.Time{Time: expires} },
			v1.OrderItem{Product: "remote-support", PoolName: "p", Seats: 2})
		for i := range 6 {
			newSeat(ns, fmt.Sprintf("seat-%d", i), "p", fmt.Sprintf("user-%d", i), v1.AssigneeUser)
		}
		Eventually(func(g Gomega) {
			g.Expect(getPool(g, ns, "p").Status.Seats.Summary).To(Equal("5/5"))
			g.Expect(seatPhases(g, ns)["seat-5"]).To(Equal("Pending/LicensesNotAvailable"))
		}).Should(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(getOrder(g, short.Name).Status.Phase).To(Equal(v1.OrderExpired))
			g.Expect(getPool(g, ns, "p").Status.Seats.Summary).To(Equal("3/3"))
			ph := seatPhases(g, ns)
			g.Expect(ph["seat-2"]).To(Equal("Bound/SeatGranted"))
			g.Expect(ph["seat-3"]).To(Equal("Pending/CapacityReduced"))
			g.Expect(ph["seat-4"]).To(Equal("Pending/CapacityReduced"))
		}, 15*time.Second).Should(Succeed())
		expectLag("order expiry", time.Now(), expires)
	})

	It("starts a scheduled order on time, and a cancellation ends the newest sessions at once (no grace period)", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = dur(time.Hour)
			p.Spec.SessionPolicy.CapacityGracePeriod = dur(0)
		})
		starts := time.Now().Truncate(time.Second).Add(3 * time.Second)
		o := newOrder(ns, func(o *v1.CustomerOrder) { o.Spec.StartsAt = &metav1.Time{Time: starts} },
			v1.OrderItem{Product: "remote-support", PoolName: "p", ConcurrentSessions: 2})
		Eventually(func(g Gomega) { g.Expect(getOrder(g, o.Name).Status.Phase).To(Equal(v1.OrderScheduled)) }).Should(Succeed())
		for i := range 3 {
			newSession(ns, fmt.Sprintf("s-%d", i), "p", fmt.Sprintf("agent-%d", i))
			if i == 0 {
				waitActive(ns, "s-0")
			}
		}
		s2 := waitActive(ns, "s-2")
		expectLag("order start", s2.Status.GrantedAt.Time, starts)
		Expect(getOrder(Default, o.Name).Status.Phase).To(Equal(v1.OrderActive))

		patchSpec(o, `{"spec":{"cancelled":true}}`)
		Eventually(func(g Gomega) {
			ph := positions(g, ns)
			g.Expect(ph).To(HaveKeyWithValue("s-0", int32(0)))
			g.Expect(ph).NotTo(HaveKey("s-1"))
			g.Expect(ph).NotTo(HaveKey("s-2"))
			g.Expect(getSession(g, ns, "s-1").Status.EndReason).To(Equal(v1.EndCapacityReduced))
			g.Expect(getSession(g, ns, "s-2").Status.EndReason).To(Equal(v1.EndCapacityReduced))
			g.Expect(getOrder(g, o.Name).Status.Phase).To(Equal(v1.OrderCancelled))
		}).Should(Succeed())
	})

	It("gives the newest sessions notice when an order is cancelled, grants nothing beyond the new limit, and ends them after the grace period", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = dur(time.Hour)
			p.Spec.SessionPolicy.CapacityGracePeriod = dur(3 * time.Second)
		})
		o := newOrder(ns, nil, v1.OrderItem{Product: "remote-support", PoolName: "p", ConcurrentSessions: 1})
		newSession(ns, "s-0", "p", "agent-0")
		waitActive(ns, "s-0")
		newSession(ns, "s-1", "p", "agent-1")
		waitActive(ns, "s-1")

		By("cancelling the order: s-1, the newest, is told, and keeps its licence for now")
		patchSpec(o, `{"spec":{"cancelled":true}}`)
		cancelled := time.Now()
		var events eventsList
		var endsAt time.Time
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-1")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(s.Status.EndsAt).NotTo(BeNil())
			c := meta.FindStatusCondition(s.Status.Conditions, v1.ConditionEndingSoon)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(string(v1.EndCapacityReduced)))
			g.Expect(s.Status.Message).To(ContainSubstring("pool p's shared licences were reduced to 1: agent-1 keeps this one until"))
			g.Expect(events.list(g, ns)).To(ContainElement(HavePrefix("SharedSession/s-1 EndingSoon: pool p's shared licences were reduced to 1")))
			endsAt = s.Status.EndsAt.Time
		}).Should(Succeed())
		Expect(endsAt.Sub(cancelled)).To(BeNumerically("~", 3*time.Second, time.Second))
		Expect(meta.FindStatusCondition(getSession(Default, ns, "s-0").Status.Conditions, v1.ConditionEndingSoon)).To(BeNil(), "the older session is not under notice")

		By("meanwhile nothing new is granted beyond the new limit")
		newSession(ns, "s-2", "p", "agent-2")
		Consistently(func(g Gomega) {
			g.Expect(getSession(g, ns, "s-2").Status.Phase).NotTo(Equal(v1.SessionActive))
		}, max(time.Until(endsAt)-200*time.Millisecond, 0), 200*time.Millisecond).Should(Succeed())

		By("when the grace period runs out, s-1 ends, and the queue stays behind the limit")
		s1 := waitEnded(ns, "s-1", v1.EndCapacityReduced)
		expectLag("capacity grace period", s1.Status.EndedAt.Time, endsAt)
		Expect(s1.Status.EndsAt).To(BeNil(), "an Ended session is no longer under notice")
		Expect(getSession(Default, ns, "s-0").Status.Phase).To(Equal(v1.SessionActive))
		Expect(getSession(Default, ns, "s-2").Status.Phase).NotTo(Equal(v1.SessionActive))
	})

	It("withdraws the notice when a licence frees before the grace period runs out", func() {
		ns := newNamespace()
		p := newPool(ns, "p", nil, int32p(2), func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = dur(time.Hour)
			p.Spec.SessionPolicy.CapacityGracePeriod = dur(time.Minute)
		})
		newSession(ns, "s-0", "p", "agent-0")
		waitActive(ns, "s-0")
		newSession(ns, "s-1", "p", "agent-1")
		waitActive(ns, "s-1")
		patchSpec(p, `{"spec":{"concurrentSessions":1}}`)
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s-1").Status.EndsAt).NotTo(BeNil()) }).Should(Succeed())

		patchSpec(getSession(Default, ns, "s-0"), `{"spec":{"terminate":true}}`)
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-1")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(s.Status.EndsAt).To(BeNil())
			g.Expect(meta.FindStatusCondition(s.Status.Conditions, v1.ConditionEndingSoon)).To(BeNil())
			g.Expect(s.Status.Message).To(Equal("agent-1 holds a shared licence of pool p"))
		}).Should(Succeed())
	})

	It("is Invalid when the pool licenses another product, and says so", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(1), nil, func(p *v1.LicensePool) { p.Spec.Product = "video-desk" })
		o := newOrder(ns, nil, v1.OrderItem{Product: "remote-support", PoolName: "p", Seats: 5})
		Eventually(func(g Gomega) {
			got := getOrder(g, o.Name)
			g.Expect(got.Status.Phase).To(Equal(v1.OrderInvalid))
			g.Expect(fulfilled(got).Reason).To(Equal("ProductMismatch"))
			g.Expect(fulfilled(got).Message).To(Equal(fmt.Sprintf("pool p in namespace %s licenses product video-desk, but the order's item is for product remote-support: give the item another poolName, or correct its product", ns)))
		}).Should(Succeed())
		poolUnchanged := func(g Gomega) { g.Expect(getPool(g, ns, "p").Status.Seats.Summary).To(Equal("0/1")) }
		Eventually(poolUnchanged).Should(Succeed())
		Consistently(poolUnchanged, time.Second).Should(Succeed())
	})

	It("waits for a missing customer namespace and is fulfilled once it exists", func() {
		name := fmt.Sprintf("late-customer-%d", time.Now().UnixNano()%100000)
		o := newOrder(name, nil, v1.OrderItem{Product: "remote-support", Seats: 1})
		Eventually(func(g Gomega) {
			got := getOrder(g, o.Name)
			g.Expect(fulfilled(got).Reason).To(Equal("CustomerNotFound"))
			g.Expect(fulfilled(got).Message).To(Equal(fmt.Sprintf("namespace %s does not exist: the order is fulfilled as soon as it is created", name)))
		}).Should(Succeed())
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, ns) })
		Eventually(func(g Gomega) {
			g.Expect(fulfilled(getOrder(g, o.Name)).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(getPool(g, name, "remote-support").Status.Seats.Summary).To(Equal("0/1"))
		}).Should(Succeed())
	})

	It("keeps an unlimited pool unlimited", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, nil)
		newOrder(ns, nil, v1.OrderItem{Product: "remote-support", PoolName: "p", Seats: 3})
		Eventually(func(g Gomega) {
			p := getPool(g, ns, "p")
			g.Expect(p.Status.Orders).To(HaveLen(1))
			g.Expect(p.Status.Seats.Limit).To(BeNil())
		}).Should(Succeed())
	})
})
