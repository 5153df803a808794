package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

const operatorUser = "system:serviceaccount:seatkeeper-system:seatkeeper-controller-manager"

// bindOperatorRole gives operatorUser the shipped ClusterRole (config/rbac/role.yaml), on the
// API server c writes to, until the spec ends.
func bindOperatorRole(c client.Client) {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.Unmarshal(raw, role)).To(Succeed())
	role.Name = "seatkeeper-manager-under-test"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: operatorUser}},
	}
	for _, o := range []client.Object{role, binding} {
		_ = c.Delete(ctx, o)
		Expect(c.Create(ctx, o)).To(Succeed())
		DeferCleanup(func() { _ = c.Delete(ctx, o) })
	}
}

var _ = Describe("The operator's own RBAC", Label("rbac"), func() {
	BeforeEach(func() { bindOperatorRole(k8s) })

	It("allows every call the controllers make, and no more", func() {
		type call struct{ group, resource, sub, verb string }
		allowed := []call{
			{"licensing.seatkeeper.io", "licensepools", "", "list"}, {"licensing.seatkeeper.io", "licensepools", "", "watch"},
			{"licensing.seatkeeper.io", "licensepools", "", "create"}, {"licensing.seatkeeper.io", "licensepools", "status", "patch"},
			{"licensing.seatkeeper.io", "seatassignments", "", "watch"}, {"licensing.seatkeeper.io", "seatassignments", "status", "patch"},
			{"licensing.seatkeeper.io", "sharedsessions", "", "watch"}, {"licensing.seatkeeper.io", "sharedsessions", "", "get"},
			{"licensing.seatkeeper.io", "sharedsessions", "", "create"}, {"licensing.seatkeeper.io", "sharedsessions", "", "patch"},
			{"licensing.seatkeeper.io", "sharedsessions", "", "delete"}, {"licensing.seatkeeper.io", "sharedsessions", "status", "patch"},
			{"licensing.seatkeeper.io", "customerorders", "", "watch"}, {"licensing.seatkeeper.io", "customerorders", "status", "patch"},
			{"", "namespaces", "", "watch"}, {"", "pods", "", "watch"}, {"", "pods", "", "patch"},
			{"events.k8s.io", "events", "", "create"},
			// Status writes are updates of the status subresource (writeStatus); a check of a
			// resourceVersion alone is a patch.
			{"licensing.seatkeeper.io", "licensepools", "status", "update"}, {"licensing.seatkeeper.io", "seatassignments", "status", "update"},
			{"licensing.seatkeeper.io", "sharedsessions", "status", "update"}, {"licensing.seatkeeper.io", "licenseledgers", "status", "update"},
			{"licensing.seatkeeper.io", "licenseledgers", "status", "patch"},
		}
		refused := []call{
			{"licensing.seatkeeper.io", "licensepools", "", "update"}, {"licensing.seatkeeper.io", "licensepools", "", "delete"},
			{"licensing.seatkeeper.io", "seatassignments", "", "delete"}, {"licensing.seatkeeper.io", "seatassignments", "", "patch"},
			{"licensing.seatkeeper.io", "customerorders", "", "patch"}, {"licensing.seatkeeper.io", "customerorders", "", "delete"},
			{"", "pods", "", "delete"}, {"", "pods", "", "create"}, {"", "secrets", "", "get"}, {"", "namespaces", "", "create"},
		}
		check := func(c call) bool {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: operatorUser, ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "acme", Group: c.group, Resource: c.resource, Subresource: c.sub, Verb: c.verb}}}
			Expect(k8s.Create(ctx, sar)).To(Succeed())
			return sar.Status.Allowed
		}
		Eventually(func(g Gomega) {
			for _, c := range allowed {
				g.Expect(check(c)).To(BeTrue(), "%+v should be allowed", c)
			}
		}).Should(Succeed())
		for _, c := range refused {
			Expect(check(c)).To(BeFalse(), "%+v should be refused", c)
		}
	})

	It("is enough for the operator to start and sync its caches", func() {
		as := rest.CopyConfig(cfg)
		as.Impersonate = rest.ImpersonationConfig{UserName: operatorUser}
		mgr, err := ctrl.NewManager(as, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
			Controller: testenv.ControllerConfig()})
		Expect(err).NotTo(HaveOccurred())
		Expect(controllers.Setup(mgr, controllers.Options{PoolWorkers: 1, LedgerPartSize: testPartSize})).To(Succeed())
		mctx, stop := context.WithCancel(context.Background())
		DeferCleanup(stop)
		go func() {
			defer GinkgoRecover()
			_ = mgr.Start(mctx)
		}()
		syncCtx, cancel := context.WithTimeout(mctx, 20*time.Second)
		defer cancel()
		Expect(mgr.GetCache().WaitForCacheSync(syncCtx)).To(BeTrue(), "a watch the operator needs is forbidden")
	})

	// The specs above ask the API server about verbs; this one has the operator write as its
	// own user. It runs on an API server of its own, where no other operator writes (the
	// suite's runs as admin), so every grant, ledger part and Event it sees is this operator's.
	It("is enough for the operator to grant, queue, keep its ledger and report", func() {
		env := testenv.Environment()
		own, err := env.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(env.Stop)
		admin, err := client.New(own, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		bindOperatorRole(admin)
		as := rest.CopyConfig(own)
		as.Impersonate = rest.ImpersonationConfig{UserName: operatorUser}
		mctx, stop := context.WithCancel(context.Background())
		DeferCleanup(stop)
		testenv.StartOperator(mctx, as, scheme, "rbac", controllers.Options{PoolWorkers: 1, LedgerPartSize: testPartSize})

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}
		Expect(admin.Create(ctx, ns)).To(Succeed())
		// Three shared licences, more than a ledger part holds (testPartSize): the ledger
		// takes LicenseLedgers beside the pool's status. One seat.
		pool := &v1.LicensePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "p"},
			Spec:       v1.LicensePoolSpec{Product: "remote-support", Seats: int32p(1), ConcurrentSessions: int32p(3)},
		}
		Expect(admin.Create(ctx, pool)).To(Succeed())
		seat := &v1.SeatAssignment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "tech"},
			Spec:       v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "ada"}},
		}
		Expect(admin.Create(ctx, seat)).To(Succeed())
		for i := range 5 {
			s := &v1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("s-%d", i)},
				Spec:       v1.SharedSessionSpec{PoolName: "p", Holder: fmt.Sprintf("agent-%d", i)},
			}
			Expect(admin.Create(ctx, s)).To(Succeed())
		}
		phases := func(g Gomega) map[string]string {
			var l v1.SharedSessionList
			g.Expect(admin.List(ctx, &l, client.InNamespace(ns.Name))).To(Succeed())
			out := map[string]string{}
			for _, s := range l.Items {
				out[s.Name] = fmt.Sprintf("%s %d", s.Status.Phase, s.Status.QueuePosition)
			}
			return out
		}
		Eventually(func(g Gomega) {
			g.Expect(phases(g)).To(Equal(map[string]string{
				"s-0": "Active 0", "s-1": "Active 0", "s-2": "Active 0", "s-3": "Waiting 1", "s-4": "Waiting 2"}))
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(seat), seat)).To(Succeed())
			g.Expect(seat.Status.Phase).To(Equal(v1.SeatBound))
			var parts v1.LicenseLedgerList
			g.Expect(admin.List(ctx, &parts, client.InNamespace(ns.Name))).To(Succeed())
			g.Expect(parts.Items).NotTo(BeEmpty(), "the ledger of three holders takes a part beside the pool's status")
			var events eventsv1.EventList
			g.Expect(admin.List(ctx, &events, client.InNamespace(ns.Name))).To(Succeed())
			g.Expect(events.Items).NotTo(BeEmpty())
		}).Should(Succeed())

		By("a released licence goes to the head of the queue")
		Expect(admin.Delete(ctx, &v1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "s-0"}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(phases(g)).To(Equal(map[string]string{
				"s-1": "Active 0", "s-2": "Active 0", "s-3": "Active 0", "s-4": "Waiting 1"}))
		}).Should(Succeed())
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(pool), pool)).To(Succeed())
		for _, c := range pool.Status.Conditions {
			Expect(c.Reason).NotTo(ContainSubstring("Refused"), "the API server refused a write of the operator: %s", c.Message)
		}
	})
})
