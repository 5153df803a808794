package integration

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func licences(n int32) func(*v1.SharedSession) {
	return func(s *v1.SharedSession) { s.Spec.Count = n }
}

func terminate(ns, name string) {
	GinkgoHelper()
	patchSpec(getSession(Default, ns, name), `{"spec":{"terminate":true}}`)
}

var _ = Describe("Sessions of several licences", Label("sessions", "multi-licence"), func() {
	It("grants all or none, frees them together, lets the head keep what frees, and does not let a too-large one block the queue", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(5))
		// Names sort in creation order: sessions created in the same second are served by name.
		newSession(ns, "a-big", "p", "alice", licences(3))
		newSession(ns, "b-small", "p", "bob")
		newSession(ns, "c-small", "p", "carol")
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(Equal(map[string]int32{"a-big": 0, "b-small": 0, "c-small": 0}))
			g.Expect(getPool(g, ns, "p").Status.Sessions.Summary).To(Equal("5/5"), "the pool counts licences, not sessions")
			g.Expect(sessionLedger(g, ns, "p")).To(HaveLen(5), "one ledger entry per licence, across its parts")
		}).Should(Succeed())
		Expect(getSession(Default, ns, "a-big").Status.Message).To(Equal("alice holds 3 shared licences of pool p"))

		By("a request for 4 waits at the head, one larger than the pool waits aside, and a small one queues behind")
		newSession(ns, "d-head", "p", "dan", licences(4))
		newSession(ns, "e-huge", "p", "eve", licences(9))
		newSession(ns, "f-small", "p", "frank")
		Eventually(func(g Gomega) {
			g.Expect(positions(g, ns)).To(HaveKeyWithValue("d-head", int32(1)))
			g.Expect(getSession(g, ns, "d-head").Status.Message).To(Equal("waiting for 4 shared licences of pool p; 0 free of 5; waiting at position 1 of 3"))
			g.Expect(getSession(g, ns, "e-huge").Status.Message).To(HavePrefix("asks for 9 shared licences but pool p has only 5 in all"))
		}).Should(Succeed())

		By("a licence that frees is kept for the head: the small one behind it stays waiting")
		terminate(ns, "b-small")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "d-head").Status.Message).To(Equal("waiting for 4 shared licences of pool p; 1 free of 5; waiting at position 1 of 3"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getSession(g, ns, "f-small").Status.Phase).To(Equal(v1.SessionWaiting))
		}, "2s").Should(Succeed())

		By("the big session ends: its three licences free together and the head takes four")
		terminate(ns, "a-big")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "d-head").Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(getPool(g, ns, "p").Status.Sessions.Summary).To(Equal("5/5"))
			g.Expect(sessionLedger(g, ns, "p")).To(HaveLen(5))
		}).Should(Succeed())
		Expect(getSession(Default, ns, "f-small").Status.Phase).To(Equal(v1.SessionWaiting))

		By("the session larger than the pool does not hold the queue: the next licence goes to the small one")
		terminate(ns, "c-small")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "f-small").Status.Phase).To(Equal(v1.SessionActive))
		}).Should(Succeed())
		e := getSession(Default, ns, "e-huge")
		Expect(e.Status.Phase).To(Equal(v1.SessionWaiting))
		Expect(e.Status.Message).To(ContainSubstring("without holding up the queue"))
	})

	It("defaults count to 1 and refuses to change it", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(5))
		s := newSession(ns, "s", "p", "alice")
		Expect(getSession(Default, ns, "s").Spec.Count).To(Equal(int32(1)))
		err := k8s.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"count":2}}`)))
		Expect(err).To(MatchError(ContainSubstring("count is immutable")))
		bad := &v1.SharedSession{ObjectMeta: objMeta(ns, "zero"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "bob", Count: -1}}
		Expect(k8s.Create(ctx, bad)).To(MatchError(ContainSubstring("spec.count")))
	})

	It("gives a gated pod as many licences as its licenses annotation asks for", func() {
		ns := newNamespace()
		newPool(ns, "solver", nil, int32p(3))
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wide", Annotations: map[string]string{
				v1.PodPoolAnnotation: "solver", v1.PodLicensesAnnotation: "3"}},
			Spec: corev1.PodSpec{
				SchedulingGates: []corev1.PodSchedulingGate{{Name: v1.PodSchedulingGate}},
				Containers:      []corev1.Container{{Name: "solver", Image: "registry.example/solver:1"}},
			},
		}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "pod-wide").Spec.Count).To(Equal(int32(3)))
			g.Expect(gates(g, ns)).To(Equal(map[string]bool{"wide": false}))
			g.Expect(getPool(g, ns, "solver").Status.Sessions.Summary).To(Equal("3/3"))
		}).Should(Succeed())
		gatedPod(ns, "narrow", "solver")
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "pod-narrow").Status.Phase).To(Equal(v1.SessionWaiting))
		}).Should(Succeed())
		Expect(gates(Default, ns)).To(HaveKeyWithValue("narrow", true))
	})
})
