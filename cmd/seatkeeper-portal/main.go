// Command seatkeeper-portal serves seatkeeper's licence portal inside the cluster, behind the
// organisation's single sign-on. An authenticating proxy in front of it (oauth2-proxy with
// --pass-authorization-header, or an ingress that does OIDC) signs each user in and passes their
// token as `Authorization: Bearer …`; the portal sends every API request with that token, so
// each user sees and may do what their own RBAC allows. The portal's service account has no
// rights and, in config/portal, no token: the portal has no identity of its own to fall back on.
//
// The API server's address and CA come from the pod (KUBERNETES_SERVICE_HOST and the
// kube-root-ca.crt ConfigMap), or from --api-server and --certificate-authority, or from the
// cluster entry of --kubeconfig (its credentials are ignored).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/seatkeeper/seatkeeper/internal/portal"
)

const inClusterCA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

func main() {
	var bind, server, ca, kubeconfig string
	flag.StringVar(&bind, "bind-address", "127.0.0.1:8080", "Address to serve the portal on; keep it reachable only by the authenticating proxy (config/portal runs both in one pod)")
	flag.StringVar(&server, "api-server", "", "The API server's URL (default: from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)")
	flag.StringVar(&ca, "certificate-authority", inClusterCA, "The CA bundle of the API server")
	flag.StringVar(&kubeconfig, "kubeconfig", "", "Take the API server and CA from this kubeconfig's current cluster instead (credentials are not used)")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&opts)).WithName("portal")

	cfg, err := apiServer(server, ca, kubeconfig)
	if err != nil {
		log.Error(err, "find the API server")
		os.Exit(1)
	}
	srv, err := portal.New(portal.Options{Auth: portal.NewBearer(cfg), Log: log})
	if err != nil {
		log.Error(err, "start the portal")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		log.Error(err, "listen", "address", bind)
		os.Exit(1)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
	}()
	log.Info("serving the licence portal", "address", ln.Addr().String(), "apiServer", cfg.Host)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Error(err, "serve")
		os.Exit(1)
	}
}

// apiServer is the API server's address and CA, without credentials.
func apiServer(server, ca, kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", kubeconfig, err)
		}
		return rest.AnonymousClientConfig(cfg), nil
	}
	if server == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("no --api-server, and not in a pod (KUBERNETES_SERVICE_HOST is not set)")
		}
		server = "https://" + net.JoinHostPort(host, port)
	}
	cfg := &rest.Config{Host: server}
	if _, err := os.Stat(ca); err == nil {
		cfg.CAFile = ca
	} else if ca != inClusterCA {
		return nil, fmt.Errorf("read --certificate-authority: %w", err)
	}
	return cfg, nil
}
