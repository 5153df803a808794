package integration

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func gatedPod(ns, name, pool string) *corev1.Pod {
	GinkgoHelper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{v1.PodPoolAnnotation: pool}},
		Spec: corev1.PodSpec{
			SchedulingGates: []corev1.PodSchedulingGate{{Name: v1.PodSchedulingGate}, {Name: "example.com/other"}},
			Containers:      []corev1.Container{{Name: "solver", Image: "registry.example/solver:1"}},
		},
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

// gates maps pod name to whether it still has seatkeeper's gate.
func gates(g Gomega, ns string) map[string]bool {
	var l corev1.PodList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	out := map[string]bool{}
	for _, p := range l.Items {
		gated := false
		for _, gate := range p.Spec.SchedulingGates {
			gated = gated || gate.Name == v1.PodSchedulingGate
		}
		out[p.Name] = gated
	}
	return out
}

var _ = Describe("Gated pods", Label("pods"), func() {
	It("ungates as many pods as the pool has licences, and the next when one finishes or goes", func() {
		ns := newNamespace()
		newPool(ns, "solver", nil, int32p(2))
		for i := range 3 {
			gatedPod(ns, fmt.Sprintf("job-%d", i), "solver")
		}
		Eventually(func(g Gomega) {
			g.Expect(gates(g, ns)).To(Equal(map[string]bool{"job-0": false, "job-1": false, "job-2": true}))
			s := getSession(g, ns, "pod-job-2")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.Spec.Holder).To(Equal("job-2"))
			g.Expect(s.OwnerReferences).To(HaveLen(1))
			g.Expect(s.OwnerReferences[0].Name).To(Equal("job-2"))
		}).Should(Succeed())
		var other corev1.Pod
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "job-0"}, &other)).To(Succeed())
		Expect(other.Spec.SchedulingGates).To(Equal([]corev1.PodSchedulingGate{{Name: "example.com/other"}}), "other gates stay")

		By("a pod that succeeds gives its licence to the gated one")
		other.Status.Phase = corev1.PodSucceeded
		Expect(k8s.Status().Update(ctx, &other)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(gates(g, ns)["job-2"]).To(BeFalse())
			g.Expect(getSession(g, ns, "pod-job-0").Status.EndReason).To(Equal(v1.EndTerminated))
		}).Should(Succeed())

		By("a deleted pod gives its licence back too")
		gatedPod(ns, "job-3", "solver")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "pod-job-3").Status.Phase).To(Equal(v1.SessionWaiting)) }).Should(Succeed())
		Expect(k8s.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "job-1"}})).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(gates(g, ns)["job-3"]).To(BeFalse()) }).Should(Succeed())
	})

	It("leaves pods without the gate alone", func() {
		ns := newNamespace()
		newPool(ns, "solver", nil, int32p(2))
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain", Annotations: map[string]string{v1.PodPoolAnnotation: "solver"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(sessionsIn(g, ns)).To(BeEmpty())
		}, "1s").Should(Succeed())
	})
})
