package integration

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// refuseLedgersOver makes the API server refuse, as too large, any pool status in ns whose
// session or seat ledger lists more than max holders: what etcd does to a ledger past its request size
// limit, without lowering the limit for every other spec. It returns a function that lifts the
// refusal.
func refuseLedgersOver(ns string, max int) func() {
	GinkgoHelper()
	name := "refuse-ledgers-" + ns
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{v1.GroupVersion.Group}, APIVersions: []string{v1.GroupVersion.Version},
						Resources: []string{"licensepools/status"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(object.status.ledger) || ((!has(object.status.ledger.sessions) || !has(object.status.ledger.sessions.holders) || " +
					"size(object.status.ledger.sessions.holders) <= " + strconv.Itoa(max) + ") && " +
					"(!has(object.status.ledger.seats) || !has(object.status.ledger.seats.holders) || " +
					"size(object.status.ledger.seats.holders) <= " + strconv.Itoa(max) + "))",
				Message: "request is too large for this test's limit",
				Reason:  ptr.To(metav1.StatusReasonRequestEntityTooLarge),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns},
			}},
		},
	}
	Expect(k8s.Create(ctx, policy)).To(Succeed())
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	lift := func() {
		_ = k8s.Delete(ctx, binding)
		_ = k8s.Delete(ctx, policy)
	}
	DeferCleanup(lift)

	// The API server applies a new policy within a second or so: wait until a dry run of an
	// over-long ledger on a probe pool is refused.
	probe := newPool(ns, "probe", nil, int32p(10))
	holders := make([]string, max+1)
	for i := range holders {
		holders[i] = "probe-" + strconv.Itoa(i)
	}
	Eventually(func(g Gomega) {
		p := getPool(g, ns, probe.Name)
		p.Status.Ledger = &v1.Ledger{Sessions: &v1.Grants{Holders: holders}}
		err := k8s.Status().Update(ctx, p, client.DryRunAll)
		g.Expect(apierrors.IsRequestEntityTooLargeError(err)).To(BeTrue(), "the policy is not applied yet: %v", err)
	}).WithTimeout(10 * time.Second).Should(Succeed())
	Expect(k8s.Delete(ctx, probe)).To(Succeed())
	return lift
}

var _ = Describe("A write the API server refuses", Label("refusals"), func() {
	It("shows on the pool and on who waits, backs off, and grants once the write is accepted", func() {
		ns := newNamespace()
		lift := refuseLedgersOver(ns, 1)
		newPool(ns, "p", int32p(2), int32p(3))
		newSession(ns, "a", "p", "alice")
		waitActive(ns, "a")
		newSeat(ns, "seat-a", "p", "alice", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			g.Expect(getSeat(g, ns, "seat-a").Status.Phase).To(Equal(v1.SeatBound))
		}).Should(Succeed())
		newSeat(ns, "seat-b", "p", "bob", v1.AssigneeUser)
		Eventually(func(g Gomega) {
			b := getSeat(g, ns, "seat-b")
			g.Expect(b.Status.Phase).To(Equal(v1.SeatPending))
			g.Expect(b.Status.Reason).To(Equal(v1.SeatReasonWriteRefused))
			g.Expect(b.Status.Message).To(HavePrefix("a licence is free, but the API server refused"))
		}).Should(Succeed())

		newSession(ns, "b", "p", "bob")
		Eventually(func(g Gomega) {
			ready := meta.FindStatusCondition(getPool(g, ns, "p").Status.Conditions, v1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(v1.ReasonWriteRefused))
			g.Expect(ready.Message).To(ContainSubstring("the API server refused the pool's status, which records who holds its licences (too large)"))
			g.Expect(ready.Message).To(ContainSubstring("request is too large for this test's limit"))
			b := getSession(g, ns, "b")
			g.Expect(b.Status.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(b.Status.Message).To(HavePrefix("a licence is free, but the API server refused"))
		}).Should(Succeed())
		var events eventsList
		Eventually(func(g Gomega) {
			g.Expect(events.reasons(g, ns)).To(ContainElement(v1.ReasonWriteRefused))
		}).Should(Succeed())
		Expect(getSession(Default, ns, "a").Status.Phase).To(Equal(v1.SessionActive), "what was granted stays granted")

		lift()
		Eventually(func(g Gomega) {
			g.Expect(getSession(g, ns, "b").Status.Phase).To(Equal(v1.SessionActive))
			g.Expect(getSeat(g, ns, "seat-b").Status.Phase).To(Equal(v1.SeatBound))
			g.Expect(meta.IsStatusConditionTrue(getPool(g, ns, "p").Status.Conditions, v1.ConditionReady)).To(BeTrue())
		}).WithTimeout(45*time.Second).Should(Succeed(), "the pool tries again within its backoff (1 s, doubling)")
	})
})
