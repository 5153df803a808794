// Package integration holds seatkeeper's envtest specs: a real kube-apiserver and etcd with the
// generated CRDs installed and the operator's controllers running in the test process.
// Every spec works in a namespace of its own and asserts through a direct (uncached) client.
package integration

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

var (
	cfg       *rest.Config
	k8s       client.Client // direct client: reads go to the API server, never a cache
	scheme    = testenv.Scheme()
	testEnv   *envtest.Environment
	suiteCtx  context.Context
	stopSuite context.CancelFunc
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	testEnv = testenv.Environment()
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	cfg.QPS, cfg.Burst = 500, 1000

	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	suiteCtx, stopSuite = context.WithCancel(context.Background())
	startManager(suiteCtx, "suite")
})

var _ = AfterSuite(func() {
	if stopSuite != nil {
		stopSuite()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// testPartSize is the ledger part size the specs' operators run with: 2 holders of a kind per
// part, so that every pool with a limit above 2 keeps its ledger in several parts (the pool's
// status and LicenseLedgers), and pools of 1 or 2 in the pool's status alone, as ordinary pools
// do with the real size. Every spec, the races and the chaos among them, runs on both.
const testPartSize = 2

// startManager runs the operator's controllers in a manager of their own, without leader
// election, until ctx ends. Several may run at once against the same API server.
func startManager(ctx context.Context, name string) {
	GinkgoHelper()
	testenv.StartOperator(ctx, cfg, scheme, name, controllers.Options{PoolWorkers: 4, LedgerPartSize: testPartSize})
}

// newNamespace creates a namespace for one spec and deletes it when the spec ends.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sk-"}}
	Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	DeferCleanup(func() {
		_ = k8s.Delete(context.Background(), ns)
	})
	return ns.Name
}

func init() {
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
}
