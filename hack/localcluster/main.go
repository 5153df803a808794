//go:build unix

// Command localcluster runs seatkeeper on a throwaway control plane, for `make run` on a machine
// with no cluster. It starts etcd and kube-apiserver (the envtest binaries that
// hack/envtest-assets.sh provides), installs the CRDs and what a real install adds to them (the
// privilege roles and the agents' admission policy, -manifests), applies the samples, writes a kubeconfig
// for an admin user, prints the `export KUBECONFIG=…` line, and runs the operator command given
// after `--` in the foreground. Ctrl-C (SIGINT, SIGTERM or SIGHUP) stops the operator, then the
// control plane, and removes their data: nothing is left running.
//
//	localcluster -assets DIR [-dir tmp/local] [-crds DIR] [-manifests FILE,…] [-samples DIR] -- OPERATOR [ARGS…]
//
// Without an operator command it keeps the control plane up until Ctrl-C, for running the
// operator from a debugger with the printed KUBECONFIG.
//
// With -reachable it only reports whether the cluster of the current kubeconfig (KUBECONFIG or
// ~/.kube/config) answers, exiting 0 if it does: hack/run.sh uses it to choose between that
// cluster and a local one without needing kubectl.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// contextName names the cluster, user and context in the kubeconfig this program writes.
const contextName = "seatkeeper-local"

// operatorStopTimeout is how long the operator gets to shut down after SIGTERM before it is
// killed; controller-runtime's own graceful-shutdown timeout is 30s.
const operatorStopTimeout = 35 * time.Second

type options struct {
	dir        string // state: kubeconfig, etcd data, API server certificates, logs
	assets     string // directory holding kube-apiserver and etcd
	crds       string
	manifests  []string
	samples    string
	operator   []string
	reachable  bool
	reachLimit time.Duration
}

func main() {
	var o options
	fs := flag.NewFlagSet("localcluster", flag.ExitOnError)
	fs.StringVar(&o.dir, "dir", "tmp/local", "Directory for the control plane's data, logs and the kubeconfig; emptied on start and stop.")
	fs.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory holding the kube-apiserver and etcd binaries (default $KUBEBUILDER_ASSETS).")
	fs.StringVar(&o.crds, "crds", "config/crd/bases", "Directory of CRDs to install.")
	fs.Func("manifests", "Comma-separated YAML files of cluster-wide objects to create before the samples (roles, admission policies).", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				o.manifests = append(o.manifests, f)
			}
		}
		return nil
	})
	fs.StringVar(&o.samples, "samples", "config/samples", "Directory whose kustomization.yaml lists the samples to create; empty for none.")
	fs.BoolVar(&o.reachable, "reachable", false, "Only check that the current kubeconfig's cluster answers; exit 0 if it does.")
	fs.DurationVar(&o.reachLimit, "timeout", 3*time.Second, "How long -reachable waits for the cluster.")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: localcluster [flags] [-- OPERATOR [ARGS...]]\n       localcluster -reachable [-timeout 3s]\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	o.operator = fs.Args()

	if o.reachable {
		if err := checkReachable(o.reachLimit); err != nil {
			logf("no cluster: %v", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(o))
}

// checkReachable asks the current kubeconfig's cluster for its version within timeout.
func checkReachable(timeout time.Duration) error {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	raw, err := loader.RawConfig()
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg, err := loader.ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return errors.New("no kubeconfig (KUBECONFIG is unset and ~/.kube/config does not exist)")
	}
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("%s (context %q) does not answer: %w", cfg.Host, raw.CurrentContext, err)
	}
	logf("cluster %s (context %q, Kubernetes %s) answers", cfg.Host, raw.CurrentContext, v.GitVersion)
	return nil
}

// run starts the control plane and the operator, waits for a signal or the operator's exit,
// stops both and returns the exit code.
func run(o options) int {
	// Catch the signals first, so that a Ctrl-C during start-up still stops what was started.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)

	dir, err := filepath.Abs(o.dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("%v", err)
		return 1
	}
	unlock, err := lockDir(dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer unlock()
	removeLeftovers(dir)
	if o.assets == "" {
		logf("no envtest binaries: pass -assets DIR or set KUBEBUILDER_ASSETS (see hack/envtest-assets.sh)")
		return 1
	}

	env, err := newEnvironment(o, dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer stopControlPlane(env, dir)
	if err := startControlPlane(env, dir); err != nil {
		logf("%v", err)
		return 1
	}
	if interrupted(signals) {
		return 0
	}

	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		logf("add admin user: %v", err)
		return 1
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, admin.Config()); err != nil {
		logf("%v", err)
		return 1
	}
	if err := createFiles(admin.Config(), "seatkeeper-make-run", o.manifests...); err != nil {
		logf("manifests: %v", err)
		return 1
	}
	if o.samples != "" {
		if err := createSamples(admin.Config(), o.samples); err != nil {
			logf("samples: %v", err)
			return 1
		}
	}
	if interrupted(signals) {
		return 0
	}
	printBanner(kubeconfig, len(o.operator) > 0)

	if len(o.operator) == 0 {
		sig := <-signals
		logf("%s: stopping the control plane", sig)
		return 0
	}
	return runOperator(o.operator, kubeconfig, signals)
}

// newEnvironment prepares (without starting) a control plane whose etcd data, API server
// certificates and logs are under dir, emptied first.
func newEnvironment(o options, dir string) (*envtest.Environment, error) {
	etcdDir, certDir := filepath.Join(dir, "etcd"), filepath.Join(dir, "apiserver")
	for _, d := range []string{etcdDir, certDir} {
		// A run that was killed leaves its data, and envtest would reuse stale certificates.
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	apiLog, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	// Fixed directories under dir (instead of envtest's random temporary ones) name the
	// processes on their command lines, which is how removeLeftovers finds them after a crash.
	return &envtest.Environment{
		BinaryAssetsDirectory: o.assets,
		CRDDirectoryPaths:     []string{o.crds},
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{DataDir: etcdDir, Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{CertDir: certDir, Out: apiLog, Err: apiLog},
		},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}, nil
}

// startControlPlane starts etcd and kube-apiserver and installs the CRDs. Whatever happens,
// the caller stops env afterwards; a panic in envtest is returned as an error for that reason.
func startControlPlane(env *envtest.Environment, dir string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start control plane: %v", r)
		}
	}()
	logf("starting etcd and kube-apiserver from %s (logs in %s)", env.BinaryAssetsDirectory, dir)
	start := time.Now()
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start control plane: %w (see %s/kube-apiserver.log and etcd.log)", err, dir)
	}
	logf("control plane up in %s; CRDs from %s installed",
		time.Since(start).Round(100*time.Millisecond), strings.Join(env.CRDDirectoryPaths, ", "))
	return nil
}

// stopControlPlane stops etcd and kube-apiserver and removes their data and the kubeconfig; the
// logs stay for a look after the fact.
func stopControlPlane(env *envtest.Environment, dir string) {
	stopped := true
	if env != nil {
		logf("stopping kube-apiserver and etcd")
		if err := env.Stop(); err != nil {
			logf("stop control plane: %v", err)
			stopped = false
		}
	}
	for _, name := range []string{"kubeconfig", "etcd", "apiserver"} {
		_ = os.RemoveAll(filepath.Join(dir, name))
	}
	if stopped {
		logf("stopped; nothing left running (logs in %s)", dir)
	}
}

// runOperator runs the operator with KUBECONFIG set until it exits or a signal arrives, and
// returns the exit code for this program.
func runOperator(argv []string, kubeconfig string, signals <-chan os.Signal) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group, so that this program decides when it stops: before the control
	// plane, not at the same time. On Linux it also dies if this program is killed.
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf("start operator: %v", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	select {
	case err := <-exited:
		code := exitCode(err)
		logf("the operator exited (%v); stopping the control plane", describeExit(err))
		return code
	case sig := <-signals:
		logf("%s: stopping the operator (Ctrl-C again to kill it at once)", sig)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-signals:
		logf("killing the operator")
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	case <-time.After(operatorStopTimeout):
		logf("the operator did not stop within %s; killing it", operatorStopTimeout)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	return 0
}

// writeKubeconfig writes a kubeconfig for cfg (client-certificate authentication) to path.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[contextName] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[contextName] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	kc.CurrentContext = contextName
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return os.Rename(tmp, path)
}

// createSamples creates, in order, the objects of the files that dir/kustomization.yaml lists
// under resources. A sample the API server refuses is a bug in the samples, so it is an error.
func createSamples(cfg *rest.Config, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := utilyaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	files := make([]string, len(k.Resources))
	for i, f := range k.Resources {
		files[i] = filepath.Join(dir, f)
	}
	return createFiles(cfg, "seatkeeper-samples", files...)
}

// createFiles creates, in order, every object of the files.
func createFiles(cfg *rest.Config, owner string, files ...string) error {
	if len(files) == 0 {
		return nil
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, file := range files {
		objs, err := readObjects(file)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if err := c.Create(ctx, obj, client.FieldOwner(owner)); err != nil {
				return fmt.Errorf("create %s %s from %s: %w", obj.GetKind(), objectName(obj), file, err)
			}
			logf("created %s %s", obj.GetKind(), objectName(obj))
		}
	}
	return nil
}

// readObjects decodes every YAML document of a file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) > 0 { // an empty document between two `---`
			objs = append(objs, obj)
		}
	}
}

func objectName(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func printBanner(kubeconfig string, withOperator bool) {
	line := strings.Repeat("=", 78)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", line)
	fmt.Fprintf(&b, "  seatkeeper local control plane is up. In another shell:\n\n")
	fmt.Fprintf(&b, "    export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(&b, "    kubectl get licensing -A\n")
	if bin, err := filepath.Abs("bin"); err == nil {
		if _, err := os.Stat(filepath.Join(bin, "kubectl-licenses")); err == nil {
			fmt.Fprintf(&b, "    export PATH=%s:$PATH     # the kubectl-licenses plugin\n", bin)
			fmt.Fprintf(&b, "    kubectl licenses portal --open   # the licence portal in your browser\n")
		}
	}
	fmt.Fprintf(&b, "\n")
	if withOperator {
		fmt.Fprintf(&b, "  The operator runs below. Ctrl-C stops it and the control plane.\n")
	} else {
		fmt.Fprintf(&b, "  No operator command given: run one with that KUBECONFIG. Ctrl-C stops the control plane.\n")
	}
	fmt.Fprintf(&b, "%s\n\n", line)
	_, _ = os.Stdout.WriteString(b.String())
}

// interrupted reports whether a signal has arrived, without waiting.
func interrupted(signals <-chan os.Signal) bool {
	select {
	case sig := <-signals:
		logf("%s: stopping", sig)
		return true
	default:
		return false
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 {
			return code
		}
		return 1 // killed by a signal
	}
	if err != nil {
		return 1
	}
	return 0
}

func describeExit(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "localcluster: "+format+"\n", args...)
}
