// Command kubectl-licenses is seatkeeper's kubectl plugin for administrators: on PATH as
// kubectl-licenses, it runs as `kubectl licenses`. It shows the usage of licence pools and their
// groups of holders, the named seats and the session log (as a table, CSV or JSON), and
// force-ends shared sessions.
//
// Everything but connecting to the cluster lives in run, which takes a connect function (the
// client and the namespace, from the kubeconfig flags) and the clock from its caller, so that
// the tests drive it with controller-runtime's fake client and a fixed time.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func main() {
	// controller-runtime's client logs through its own logger, which complains when it is never
	// set; a command-line tool reports errors itself.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, connect, clock.RealClock{})
	stop()
	os.Exit(code)
}

// connect builds a client for the cluster that the kubeconfig flags name, and returns the
// namespace to use: -n when given, else the namespace of the kubeconfig's context, else default.
func connect(f *kubeFlags) (client.Client, string, error) {
	rest, namespace, err := restConfig(f)
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(rest, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect to the API server: %w", err)
	}
	return c, namespace, nil
}

// restConfig reads the kubeconfig as kubectl does, with the flags' overrides: the cluster, the
// user's credentials and the namespace.
func restConfig(f *kubeFlags) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	config := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &f.overrides)
	namespace, _, err := config.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("read kubeconfig: %w", err)
	}
	rest, err := config.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("read kubeconfig: %w", err)
	}
	rest.UserAgent = "kubectl-licenses/" + version()
	return rest, namespace, nil
}

// portalLoadingRules are the kubeconfig files the flags name.
func portalLoadingRules(a *app) *clientcmd.ClientConfigLoadingRules {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = a.kube.kubeconfig
	return rules
}
