package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAPIServer checks where the in-cluster portal finds the API server, and that it never
// takes credentials from anywhere.
func TestAPIServer(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: secret-of-the-kubeconfig}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := apiServer("", inClusterCA, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.0.0.1:6443" || cfg.BearerToken != "" {
		t.Errorf("from the kubeconfig: host %q, token %q; want its server and no token", cfg.Host, cfg.BearerToken)
	}

	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	cfg, err = apiServer("", inClusterCA, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.96.0.1:443" || cfg.BearerToken != "" || cfg.BearerTokenFile != "" {
		t.Errorf("in a pod: host %q, token %q/%q; want the service address and no token", cfg.Host, cfg.BearerToken, cfg.BearerTokenFile)
	}

	if _, err := apiServer("https://api.example:6443", filepath.Join(dir, "missing-ca.crt"), ""); err == nil {
		t.Error("a --certificate-authority that does not exist: want an error")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := apiServer("", inClusterCA, ""); err == nil {
		t.Error("outside a pod without --api-server: want an error")
	}
}
