package integration

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

const operatorUser = "system:serviceaccount:seatkeeper-system:seatkeeper-controller-manager"

var _ = Describe("The operator's own RBAC", Label("rbac"), func() {
	BeforeEach(func() {
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
			_ = k8s.Delete(ctx, o)
			Expect(k8s.Create(ctx, o)).To(Succeed())
			DeferCleanup(func() { _ = k8s.Delete(ctx, o) })
		}
	})

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
})
