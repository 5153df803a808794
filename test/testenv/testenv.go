// Package testenv is what seatkeeper's envtest suites (test/integration, test/portal) share: a
// control plane with the CRDs, the operator's controllers in a manager, the manifests of config/
// applied as `kubectl apply` would, and reads of the kinds through a direct client. Its helpers
// are Ginkgo helpers: they fail the spec that calls them.
package testenv

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/internal/cachetransform"
)

// Root is the repository's top folder from a package under test/.
var Root = filepath.Join("..", "..")

// Scheme holds the built-in kinds and seatkeeper's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1.AddToScheme(s))
	return s
}

// Environment is envtest with seatkeeper's generated CRDs installed. kube-apiserver may take
// longer than envtest's default 20 s to stop on a loaded 2-core machine: the suite's last step
// must not fail on that.
func Environment() *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:       []string{filepath.Join(Root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:   true,
		ControlPlaneStopTimeout: 2 * time.Minute,
	}
}

// StartOperator runs the operator's controllers in a manager of their own, without leader
// election, until ctx ends. Several may run at once against the same API server.
func StartOperator(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, name string, opts controllers.Options) {
	GinkgoHelper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: cachetransform.New()},
		Logger:                 logf.Log.WithName(name),
		Controller:             ControllerConfig(),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.Setup(mgr, opts)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// ControllerConfig lets several managers run the same controllers in one process.
func ControllerConfig() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}

// InstallManifests creates (or updates) the objects of the given files under config/, as
// `kubectl apply` would, and deletes those it created when the container ends.
func InstallManifests(ctx context.Context, c client.Client, paths ...string) {
	GinkgoHelper()
	for _, p := range paths {
		f, err := os.Open(filepath.Join(Root, p))
		Expect(err).NotTo(HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			u := &unstructured.Unstructured{}
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred(), p)
			if len(u.Object) == 0 {
				continue
			}
			existing := &unstructured.Unstructured{}
			existing.SetGroupVersionKind(u.GroupVersionKind())
			err = c.Get(ctx, client.ObjectKeyFromObject(u), existing)
			switch {
			case apierrors.IsNotFound(err):
				Expect(c.Create(ctx, u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
				DeferCleanup(func() { _ = c.Delete(ctx, u) })
			case err == nil:
				u.SetResourceVersion(existing.GetResourceVersion())
				Expect(c.Update(ctx, u)).To(Succeed(), "%s %s", u.GetKind(), u.GetName())
			default:
				Expect(err).NotTo(HaveOccurred())
			}
		}
		Expect(f.Close()).To(Succeed())
	}
}

// Get reads one object of kind T from the API server, failing g when it cannot.
func Get[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, g Gomega, c client.Client, ns, name string) PT {
	obj := PT(new(T))
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
	return obj
}
