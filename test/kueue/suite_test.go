// Package kueue holds the envtest specs of seatkeeper's Kueue admission check against the real
// Kueue: Kueue v0.19.2's CRDs and its core controllers and scheduler (minimalkueue, built from
// the Go module proxy by hack/kueue-assets.sh and found through KUEUE_ASSETS) run against the
// same API server as seatkeeper's controllers, which run in the test process. minimalkueue has
// no job integration: the specs play its part, marking Workloads Finished themselves.
package kueue

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

const (
	checkName  = "license"
	paramsName = "two-per-pod"
	cqName     = "batch"
)

var (
	cfg       *rest.Config
	k8s       client.Client // direct client: reads go to the API server, never a cache
	testEnv   *envtest.Environment
	stopSuite context.CancelFunc
	kueueCmd  *exec.Cmd
	kueueDone chan error
)

func TestKueue(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kueue Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	assets := os.Getenv("KUEUE_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUEUE_ASSETS must name Kueue's minimalkueue and CRDs: KUEUE_ASSETS=$(hack/kueue-assets.sh), as make test sets it")

	testEnv = testenv.Environment()
	testEnv.CRDDirectoryPaths = append(testEnv.CRDDirectoryPaths, filepath.Join(assets, "crd"))
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	cfg.QPS, cfg.Burst = 500, 1000

	scheme := testenv.Scheme()
	utilruntime.Must(kueue.AddToScheme(scheme))
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// Kueue runs as its own process, with an admin user of the API server, as in a cluster.
	user, err := testEnv.AddUser(envtest.User{Name: "kueue", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	kueueCmd = exec.Command(filepath.Join(assets, "minimalkueue"), "--kubeconfig", path, "--zap-log-level=2")
	kueueCmd.Stdout, kueueCmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(kueueCmd.Start()).To(Succeed())
	kueueDone = make(chan error, 1)
	go func() { kueueDone <- kueueCmd.Wait() }()

	var ctx context.Context
	ctx, stopSuite = context.WithCancel(context.Background())
	testenv.StartOperator(ctx, cfg, scheme, "suite", controllers.Options{PoolWorkers: 2})

	// One ClusterQueue, with quota to spare: only licences hold Workloads back.
	bg := context.Background()
	Expect(k8s.Create(bg, &v1.LicenseCheckParameters{
		ObjectMeta: metav1.ObjectMeta{Name: paramsName},
		Spec:       v1.LicenseCheckParametersSpec{PoolName: "p", LicensesPerPod: 2},
	})).To(Succeed())
	Expect(k8s.Create(bg, &kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: "default"}})).To(Succeed())
	Expect(k8s.Create(bg, &kueue.AdmissionCheck{
		ObjectMeta: metav1.ObjectMeta{Name: checkName},
		Spec: kueue.AdmissionCheckSpec{
			ControllerName: v1.KueueCheckControllerName,
			Parameters:     &kueue.AdmissionCheckParametersReference{APIGroup: v1.GroupVersion.Group, Kind: "LicenseCheckParameters", Name: paramsName},
		},
	})).To(Succeed())
	Expect(k8s.Create(bg, &kueue.ClusterQueue{
		ObjectMeta: metav1.ObjectMeta{Name: cqName},
		Spec: kueue.ClusterQueueSpec{
			NamespaceSelector: &metav1.LabelSelector{},
			ResourceGroups: []kueue.ResourceGroup{{
				CoveredResources: []corev1.ResourceName{corev1.ResourceCPU},
				Flavors: []kueue.FlavorQuotas{{Name: "default", Resources: []kueue.ResourceQuota{
					{Name: corev1.ResourceCPU, NominalQuota: resource.MustParse("100")},
				}}},
			}},
			AdmissionChecksStrategy: &kueue.AdmissionChecksStrategy{
				AdmissionChecks: []kueue.AdmissionCheckStrategyRule{{Name: checkName}},
			},
		},
	})).To(Succeed())
	Eventually(func(g Gomega) {
		cq := testenv.Get[kueue.ClusterQueue](bg, g, k8s, "", cqName)
		g.Expect(apimeta.IsStatusConditionTrue(cq.Status.Conditions, kueue.ClusterQueueActive)).To(BeTrue(),
			"the ClusterQueue is active once seatkeeper marks its AdmissionCheck Active")
	}).Should(Succeed())
})

var _ = AfterSuite(func() {
	if stopSuite != nil {
		stopSuite()
	}
	if kueueCmd != nil && kueueCmd.Process != nil {
		_ = kueueCmd.Process.Signal(syscall.SIGINT)
		select {
		case <-kueueDone:
		case <-time.After(15 * time.Second):
			_ = kueueCmd.Process.Kill()
		}
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace with a LocalQueue of the suite's ClusterQueue for one spec
// and deletes it when the spec ends.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kq-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	Expect(k8s.Create(ctx, &kueue.LocalQueue{
		ObjectMeta: metav1.ObjectMeta{Name: "lq", Namespace: ns.Name},
		Spec:       kueue.LocalQueueSpec{ClusterQueue: cqName},
	})).To(Succeed())
	return ns.Name
}

func init() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
}
