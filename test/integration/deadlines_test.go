package integration

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Lag budget: the spec's one second, plus what this shared machine adds under -race.
const lagBudget = 1500 * time.Millisecond

func waitEnded(ns, name string, reason v1.EndReason) *v1.SharedSession {
	GinkgoHelper()
	var s *v1.SharedSession
	Eventually(func(g Gomega) {
		s = getSession(g, ns, name)
		g.Expect(s.Status.Phase).To(Equal(v1.SessionEnded))
	}, 30*time.Second).Should(Succeed())
	Expect(s.Status.EndReason).To(Equal(reason), s.Status.Message)
	Expect(s.Status.EndedAt).NotTo(BeNil())
	Expect(s.Status.Message).NotTo(BeEmpty())
	Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1.ConditionGranted)).To(BeFalse())
	return s
}

func waitActive(ns, name string) *v1.SharedSession {
	GinkgoHelper()
	var s *v1.SharedSession
	Eventually(func(g Gomega) {
		s = getSession(g, ns, name)
		g.Expect(s.Status.Phase).To(Equal(v1.SessionActive))
	}, 30*time.Second).Should(Succeed())
	return s
}

// expectLag checks that something happened after its deadline and within the budget, and
// reports the lag.
func expectLag(what string, happened, deadline time.Time) {
	GinkgoHelper()
	lag := happened.Sub(deadline)
	fmt.Fprintf(GinkgoWriter, "%s: lag %v\n", what, lag)
	AddReportEntry(what+" lag", lag.String())
	Expect(lag).To(BeNumerically(">=", 0), what+" acted before its deadline")
	Expect(lag).To(BeNumerically("<", lagBudget), what+" acted late")
}

func keepRenewing(ns string, names ...string) {
	stop := make(chan struct{})
	DeferCleanup(func() { close(stop) })
	go func() {
		defer GinkgoRecover()
		live := slices.Clone(names)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				live = slices.DeleteFunc(live, func(n string) bool { return !renew(ns, n) })
			}
		}
	}()
}

// renew heartbeats a session as an agent does and reports whether it still lives.
// An Ended session is frozen, so its heartbeat is refused; an agent stops there.
func renew(ns, name string) bool {
	err := patchRenewTime(ns, name)
	if err == nil {
		return true
	}
	Expect(getSession(Default, ns, name).Status.Phase).To(Equal(v1.SessionEnded), "a live session's heartbeat was refused: %v", err)
	return false
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

var _ = Describe("Session deadlines", Label("sessions", "deadlines"), func() {
	It("ends a session idle for idleTimeout and serves the queue's head", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.IdleTimeout = dur(2 * time.Second) })
		newSession(ns, "a", "p", "alice")
		a := waitActive(ns, "a")
		newSession(ns, "b", "p", "bob", func(s *v1.SharedSession) { s.Spec.State = v1.SessionConnected })
		a = waitEnded(ns, "a", v1.EndIdleTimeout)
		since := a.Status.GrantedAt.Time
		if a.Status.StateChangedAt.After(since) {
			since = a.Status.StateChangedAt.Time
		}
		expectLag("idle timeout", a.Status.EndedAt.Time, since.Add(2*time.Second))
		b := waitActive(ns, "b")
		expectLag("idle timeout hand-over", b.Status.GrantedAt.Time, a.Status.EndedAt.Time)
	})

	It("ends a session past maxDuration and serves the queue's head", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.MaxDuration = dur(2 * time.Second) })
		newSession(ns, "a", "p", "alice", func(s *v1.SharedSession) { s.Spec.State = v1.SessionConnected })
		newSession(ns, "b", "p", "bob")
		a := waitEnded(ns, "a", v1.EndMaxDurationExceeded)
		expectLag("max duration", a.Status.EndedAt.Time, a.Status.GrantedAt.Add(2*time.Second))
		b := waitActive(ns, "b")
		expectLag("max duration hand-over", b.Status.GrantedAt.Time, a.Status.EndedAt.Time)
	})

	It("ends a session whose heartbeat stops, while a renewing one lives past the timeout", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.HeartbeatTimeout = dur(5 * time.Second) })
		newSession(ns, "a", "p", "alice")
		waitActive(ns, "a")
		heartbeat(ns, "a")
		renewed := getSession(Default, ns, "a").Status.RenewTime.Time
		newSession(ns, "b", "p", "bob")
		keepRenewing(ns, "b")
		a := waitEnded(ns, "a", v1.EndHeartbeatExpired)
		expectLag("heartbeat expiry", a.Status.EndedAt.Time, renewed.Add(5*time.Second))
		b := waitActive(ns, "b")
		expectLag("heartbeat hand-over", b.Status.GrantedAt.Time, a.Status.EndedAt.Time)
		Consistently(func(g Gomega) {
			g.Expect(getSession(g, ns, "b").Status.Phase).To(Equal(v1.SessionActive))
		}, 6*time.Second, 500*time.Millisecond).Should(Succeed())
	})

	It("judges heartbeats on the operator's clock: an agent an hour fast still loses its licence one timeout after it stops", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.HeartbeatTimeout = dur(5 * time.Second) })
		newSession(ns, "fast", "p", "alice")
		waitActive(ns, "fast")
		// The agent's clock runs an hour ahead: each heartbeat writes a time an hour from now.
		renewFast := func() time.Time {
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "fast")}
			body := fmt.Sprintf(`{"status":{"renewTime":%q}}`, metav1.NewMicroTime(time.Now().Add(time.Hour)).UTC().Format(metav1.RFC3339Micro))
			sent := time.Now()
			Expect(k8s.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(body)))).To(Succeed())
			return sent
		}
		By("while it heartbeats, it keeps its licence past the timeout")
		renewFast()
		for range 3 {
			time.Sleep(2 * time.Second)
			renewFast()
		}
		Expect(getSession(Default, ns, "fast").Status.Phase).To(Equal(v1.SessionActive))
		By("once it stops, the licence comes back one timeout after its last heartbeat arrived, not an hour later")
		last := renewFast()
		s := waitEnded(ns, "fast", v1.EndHeartbeatExpired)
		expectLag("heartbeat expiry of a fast clock", s.Status.EndedAt.Time, last.Add(5*time.Second))
	})

	It("deletes ended sessions retainEnded after they end", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.RetainEnded = dur(2 * time.Second) })
		newSession(ns, "a", "p", "alice")
		waitActive(ns, "a")
		patchSpec(getSession(Default, ns, "a"), `{"spec":{"terminate":true}}`)
		a := waitEnded(ns, "a", v1.EndTerminated)
		Eventually(func() bool {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &v1.SharedSession{})
			return apierrors.IsNotFound(err)
		}, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
		expectLag("retention", time.Now(), a.Status.EndedAt.Add(2*time.Second))
	})

	It("warns before the pool expires, then ends its sessions and frees its seats", func() {
		ns := newNamespace()
		expires := time.Now().Truncate(time.Second).Add(5 * time.Second)
		newPool(ns, "p", int32p(2), int32p(2), func(p *v1.LicensePool) {
			p.Spec.ExpiresAt = &metav1.Time{Time: expires}
			p.Spec.ExpiryWarning = dur(2 * time.Second)
		})
		newSeat(ns, "seat-a", "p", "alice", v1.AssigneeUser)
		newSession(ns, "a", "p", "alice")
		newSession(ns, "b", "p", "bob")
		keepRenewing(ns, "a", "b")
		waitActive(ns, "a")
		Expect(meta.IsStatusConditionTrue(getPool(Default, ns, "p").Status.Conditions, v1.ConditionExpiringSoon)).To(BeFalse())

		Eventually(func(g Gomega) {
			g.Expect(meta.IsStatusConditionTrue(getPool(g, ns, "p").Status.Conditions, v1.ConditionExpiringSoon)).To(BeTrue())
		}, 10*time.Second, 20*time.Millisecond).Should(Succeed())
		expectLag("expiring soon", time.Now(), expires.Add(-2*time.Second))

		a := waitEnded(ns, "a", v1.EndPoolExpired)
		expectLag("pool expiry", a.Status.EndedAt.Time, expires)
		Eventually(func(g Gomega) {
			p := getPool(g, ns, "p")
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1.ConditionExpired)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1.ConditionReady)).To(BeFalse())
			g.Expect(getSeat(g, ns, "seat-a").Status.Reason).To(Equal(v1.SeatReasonPoolExpired))
		}).Should(Succeed())
		var events eventsList
		Eventually(func(g Gomega) {
			g.Expect(events.reasons(g, ns)).To(ContainElements("ExpiringSoon", "Expired", "PoolExpired"))
		}).Should(Succeed())
	})
})

var _ = Describe("Session rules", Label("sessions"), func() {
	It("lets a higher priority jump the queue and keeps creation order among equals", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		newSession(ns, "holder", "p", "h")
		waitActive(ns, "holder")
		for i := range 3 {
			newSession(ns, fmt.Sprintf("w-%d", i), "p", fmt.Sprintf("agent-%d", i))
		}
		newSession(ns, "vip", "p", "boss", func(s *v1.SharedSession) { s.Spec.Priority = 100 })
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"holder": 0, "vip": 1, "w-0": 2, "w-1": 3, "w-2": 4}))
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, getSession(Default, ns, "holder"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"vip": 0, "w-0": 1, "w-1": 2, "w-2": 3}))
		}).Should(Succeed())
	})

	It("with countBy Holder, counts a holder's sessions as one licence", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.CountBy = v1.CountByHolder })
		newSession(ns, "a1", "p", "alice")
		waitActive(ns, "a1")
		newSession(ns, "b1", "p", "bob")
		newSession(ns, "a2", "p", "alice")
		waitActive(ns, "a2")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "b1").Status.QueuePosition).To(Equal(int32(1)))
			g.Expect(getPool(g, ns, "p").Status.Sessions.Summary).To(Equal("1/1"))
		}).Should(Succeed())
		patchSpec(getSession(Default, ns, "a1"), `{"spec":{"terminate":true}}`)
		Consistently(func(g Gomega) {
			g.Expect(getSession(g, ns, "b1").Status.Phase).To(Equal(v1.SessionWaiting))
		}, time.Second).Should(Succeed())
		patchSpec(getSession(Default, ns, "a2"), `{"spec":{"terminate":true}}`)
		waitActive(ns, "b1")
	})

	It("with requireSeat, admits only holders with a Bound seat", func() {
		ns := newNamespace()
		newPool(ns, "p", int32p(1), nil, func(p *v1.LicensePool) { p.Spec.SessionPolicy.RequireSeat = true })
		newSeat(ns, "seat-alice", "p", "alice", v1.AssigneeUser)
		newSeat(ns, "seat-bob", "p", "bob", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			g.Expect(getSeat(g, ns, "seat-alice").Status.Phase).To(Equal(v1.SeatBound))
		}).Should(Succeed())
		newSession(ns, "a", "p", "alice")
		newSession(ns, "b", "p", "bob")
		waitActive(ns, "a")
		b := waitEnded(ns, "b", v1.EndNotEntitled)
		Expect(b.Status.Message).To(ContainSubstring("bob has no Bound seat in pool p"))
	})

	It("with whenExhausted Reject, turns newcomers away at once", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.WhenExhausted = v1.WhenExhaustedReject })
		newSession(ns, "a", "p", "alice")
		waitActive(ns, "a")
		newSession(ns, "b", "p", "bob")
		waitEnded(ns, "b", v1.EndRejected)
	})

	It("ends sessions whose pool does not exist", func() {
		ns := newNamespace()
		newSession(ns, "a", "nowhere", "alice")
		s := waitEnded(ns, "a", v1.EndPoolNotFound)
		Expect(s.Status.Message).To(Equal("pool nowhere does not exist in this namespace"))
	})
})
