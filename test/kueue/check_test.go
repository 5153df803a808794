package kueue

import (
	"context"
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers/kueuecheck"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

var _ = Describe("The licensing admission check", func() {
	It("admits at most as many Workloads as the pool has licences, each holding its own, and hands them on when one finishes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		aPool(ctx, ns, 4)
		var names []string
		for i := range 6 {
			names = append(names, aWorkload(ctx, ns, fmt.Sprintf("wl-%d", i), nil))
		}

		finished := map[string]bool{}
		for len(finished) < len(names) {
			var admitted []string
			Eventually(func(g Gomega) {
				wls := workloads(ctx, g, ns)
				admitted = admittedOf(wls)
				g.Expect(len(admitted)).To(BeNumerically("<=", 2), "never more than 2 Workloads of 2 licences admitted from 4: %v", admitted)
				sessions := sessionsOf(ctx, g, ns)
				var inUse int32
				for _, s := range sessions {
					if s.Status.Phase == v1.SessionActive {
						inUse += s.Spec.Count
					}
				}
				g.Expect(inUse).To(BeNumerically("<=", 4))
				for _, name := range admitted {
					s := activeSessionOf(sessions, wls[name])
					g.Expect(s).NotTo(BeNil(), "admitted Workload %s holds an Active session", name)
					g.Expect(s.Spec.Count).To(Equal(int32(2)))
					g.Expect(s.Spec.PoolName).To(Equal("p"))
				}
				want := min(2, len(names)-len(finished))
				g.Expect(admitted).To(HaveLen(want), "the free licences go to the next in line")
				for name, wl := range wls {
					if !finished[name] && !slices.Contains(admitted, name) {
						st := check(wl)
						g.Expect(st).NotTo(BeNil())
						g.Expect(st.State).To(Equal(kueue.CheckStatePending), name)
					}
				}
			}).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(admittedOf(workloads(ctx, g, ns))).To(HaveLen(len(admitted)))
			}, "300ms").Should(Succeed(), "no third Workload is admitted while two hold the licences")
			// The job of the first admitted Workload ends, as a job integration would report it.
			finish(ctx, ns, admitted[0])
			finished[admitted[0]] = true
			Eventually(func(g Gomega) {
				for _, s := range sessionsOf(ctx, g, ns) {
					if ownedBy(&s, admitted[0]) {
						g.Expect(s.Status.Phase).To(Equal(v1.SessionEnded), "the finished Workload's session ends")
					}
				}
			}).Should(Succeed())
		}
	})

	It("says why while a Workload waits for licences", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		aPool(ctx, ns, 2)
		aWorkload(ctx, ns, "first", nil)
		Eventually(func(g Gomega) {
			g.Expect(admittedOf(workloads(ctx, g, ns))).To(ConsistOf("first"))
		}).Should(Succeed())
		aWorkload(ctx, ns, "second", nil)
		Eventually(func(g Gomega) {
			wl := testenv.Get[kueue.Workload](ctx, g, k8s, ns, "second")
			g.Expect(apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadQuotaReserved)).To(BeTrue())
			st := check(wl)
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.State).To(Equal(kueue.CheckStatePending))
			g.Expect(st.Message).To(And(ContainSubstring("pool p"), ContainSubstring("position 1")))
		}).Should(Succeed())
	})

	It("rejects a Workload that asks for more licences than the pool has", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		aPool(ctx, ns, 4)
		aWorkload(ctx, ns, "greedy", map[string]string{v1.WorkloadLicensesAnnotation: "8"})
		Eventually(func(g Gomega) {
			wl := testenv.Get[kueue.Workload](ctx, g, k8s, ns, "greedy")
			// Kueue answers Rejected by deactivating the Workload, and then resets the check to
			// Pending: the Evicted condition keeps our message.
			g.Expect(wl.Spec.Active).To(HaveValue(BeFalse()))
			ev := apimeta.FindStatusCondition(wl.Status.Conditions, kueue.WorkloadEvicted)
			g.Expect(ev).NotTo(BeNil())
			g.Expect(ev.Message).To(And(ContainSubstring("Rejected"), ContainSubstring("needs 8 licences, more than pool p has (4)")))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			for _, s := range sessionsOf(ctx, g, ns) {
				g.Expect(s.Status.Phase).NotTo(Equal(v1.SessionActive))
			}
		}, "500ms").Should(Succeed())
	})

	It("rejects the waiting Workloads when their pool is deleted", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		pool := aPool(ctx, ns, 2)
		aWorkload(ctx, ns, "running", nil)
		Eventually(func(g Gomega) {
			g.Expect(admittedOf(workloads(ctx, g, ns))).To(ConsistOf("running"))
		}).Should(Succeed())
		aWorkload(ctx, ns, "waiting-1", nil)
		aWorkload(ctx, ns, "waiting-2", nil)
		Eventually(func(g Gomega) {
			for _, name := range []string{"waiting-1", "waiting-2"} {
				wl := testenv.Get[kueue.Workload](ctx, g, k8s, ns, name)
				g.Expect(apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadQuotaReserved)).To(BeTrue())
				st := check(wl) // nil until Kueue lists the check on the Workload
				g.Expect(st).NotTo(BeNil(), name)
				g.Expect(st.State).To(Equal(kueue.CheckStatePending))
			}
			var waiting int
			for _, s := range sessionsOf(ctx, g, ns) {
				if s.Status.Phase == v1.SessionWaiting {
					waiting++
				}
			}
			g.Expect(waiting).To(Equal(2))
		}).Should(Succeed())

		Expect(k8s.Delete(ctx, pool)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, name := range []string{"waiting-1", "waiting-2"} {
				wl := testenv.Get[kueue.Workload](ctx, g, k8s, ns, name)
				g.Expect(wl.Spec.Active).To(HaveValue(BeFalse()), name)
				ev := apimeta.FindStatusCondition(wl.Status.Conditions, kueue.WorkloadEvicted)
				g.Expect(ev).NotTo(BeNil())
				g.Expect(ev.Message).To(And(ContainSubstring("Rejected"), ContainSubstring("pool p does not exist")), name)
			}
		}).Should(Succeed())
	})

	It("ends a Workload's session when the Workload is deleted", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		aPool(ctx, ns, 2)
		aWorkload(ctx, ns, "short", nil)
		Eventually(func(g Gomega) {
			g.Expect(admittedOf(workloads(ctx, g, ns))).To(ConsistOf("short"))
		}).Should(Succeed())
		aWorkload(ctx, ns, "next", nil)
		Expect(k8s.Delete(ctx, &kueue.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "short"}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(admittedOf(workloads(ctx, g, ns))).To(ConsistOf("next"), "the deleted Workload's licences go to the next in line")
		}).Should(Succeed())
	})
})

// aPool creates pool p with the given number of shared licences.
func aPool(ctx context.Context, ns string, licences int32) *v1.LicensePool {
	GinkgoHelper()
	p := &v1.LicensePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec:       v1.LicensePoolSpec{Product: "solver", ConcurrentSessions: ptr.To(licences)},
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

// aWorkload creates a one-pod Workload in the namespace's LocalQueue, as a job integration
// would for a Job of one pod.
func aWorkload(ctx context.Context, ns, name string, annotations map[string]string) string {
	GinkgoHelper()
	wl := &kueue.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: kueue.WorkloadSpec{
			QueueName: "lq",
			PodSets: []kueue.PodSet{{
				Name: "main", Count: 1,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "solver", Image: "busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
				}},
			}},
		},
	}
	Expect(k8s.Create(ctx, wl)).To(Succeed())
	return name
}

// finish marks a Workload Finished, as a job integration does when its job ends.
func finish(ctx context.Context, ns, name string) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		wl := &kueue.Workload{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wl); err != nil {
			return err
		}
		apimeta.SetStatusCondition(&wl.Status.Conditions, metav1.Condition{
			Type: kueue.WorkloadFinished, Status: metav1.ConditionTrue, Reason: kueue.WorkloadFinishedReasonSucceeded,
			Message: "Job finished successfully", ObservedGeneration: wl.Generation,
		})
		return k8s.Status().Update(ctx, wl)
	})).To(Succeed())
}

func workloads(ctx context.Context, g Gomega, ns string) map[string]*kueue.Workload {
	var list kueue.WorkloadList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	out := map[string]*kueue.Workload{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// admittedOf names the Workloads Kueue admitted (quota and every check Ready) that have not finished.
func admittedOf(wls map[string]*kueue.Workload) []string {
	var names []string
	for name, wl := range wls {
		if apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadAdmitted) &&
			!apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadFinished) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func check(wl *kueue.Workload) *kueue.AdmissionCheckState {
	for i := range wl.Status.AdmissionChecks {
		if wl.Status.AdmissionChecks[i].Name == checkName {
			return &wl.Status.AdmissionChecks[i]
		}
	}
	return nil
}

func sessionsOf(ctx context.Context, g Gomega, ns string) []v1.SharedSession {
	var list v1.SharedSessionList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.HasLabels{kueuecheck.SessionLabel})).To(Succeed())
	return list.Items
}

func ownedBy(s *v1.SharedSession, workload string) bool {
	return slices.ContainsFunc(s.OwnerReferences, func(o metav1.OwnerReference) bool { return o.Kind == "Workload" && o.Name == workload })
}

func activeSessionOf(sessions []v1.SharedSession, wl *kueue.Workload) *v1.SharedSession {
	for i := range sessions {
		s := &sessions[i]
		if s.Status.Phase == v1.SessionActive && slices.ContainsFunc(s.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == wl.UID }) {
			return s
		}
	}
	return nil
}
