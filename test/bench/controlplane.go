package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// controlPlane is an envtest etcd and kube-apiserver with seatkeeper's CRDs installed, and a
// kubeconfig for an admin user that the operator process reads.
type controlPlane struct {
	env        *envtest.Environment
	admin      *rest.Config
	kubeconfig string
}

// auditPolicy logs every request but the leader elections' lease renewals at the Metadata
// level: who asked what of which object, when it arrived and when it was answered.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  resources:
  - group: coordination.k8s.io
- level: Metadata
`

// startControlPlane starts etcd and kube-apiserver with their logs and data under dir and
// installs the CRDs of the directories crds; with audit, the API server writes an audit log,
// dir/audit.log. The caller stops it, even when this returns an error.
func startControlPlane(assets string, crds []string, dir string, audit bool) (cp *controlPlane, err error) {
	cp = &controlPlane{}
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return cp, err
	}
	apiLog, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return cp, err
	}
	cp.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			Etcd:      &envtest.Etcd{Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{Out: apiLog, Err: apiLog},
		},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  10 * time.Second, // then killed: its data is thrown away anyway
	}
	if audit {
		policy := filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
			return cp, err
		}
		cp.env.ControlPlane.APIServer.Configure().
			Append("audit-policy-file", policy).
			Append("audit-log-path", filepath.Join(dir, "audit.log")).
			Append("audit-log-mode", "batch").       // off the requests' path
			Append("audit-log-batch-max-wait", "1s") // on disk before the API server is stopped
	}
	defer func() {
		// envtest panics on some start-up failures; the caller must still be able to stop it.
		if r := recover(); r != nil {
			err = fmt.Errorf("start control plane: %v", r)
		}
	}()
	if _, err := cp.env.Start(); err != nil {
		return cp, fmt.Errorf("start control plane: %w (logs in %s)", err, dir)
	}
	admin, err := cp.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return cp, fmt.Errorf("add admin user: %w", err)
	}
	cp.admin = admin.Config()
	cp.kubeconfig = filepath.Join(dir, "kubeconfig")
	return cp, writeKubeconfig(cp.kubeconfig, cp.admin)
}

func (cp *controlPlane) stop() error {
	if cp == nil || cp.env == nil {
		return nil
	}
	return cp.env.Stop()
}

// config is a copy of the admin's client configuration with the given client-side rate limit;
// qps < 0 turns the limiter off.
func (cp *controlPlane) config(qps float32, burst int) *rest.Config {
	cfg := rest.CopyConfig(cp.admin)
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "seatkeeper-bench"
	return cfg
}

// writeKubeconfig writes a kubeconfig for cfg (client-certificate authentication), as
// hack/localcluster does.
func writeKubeconfig(path string, cfg *rest.Config) error {
	const name = "seatkeeper-bench"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}

// moduleRoot is the directory of seatkeeper's go.mod, found from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/seatkeeper/seatkeeper\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the seatkeeper module (no go.mod of github.com/seatkeeper/seatkeeper above the working directory)")
		}
		dir = parent
	}
}

// envtestAssets is -assets, or what hack/envtest-assets.sh provides.
func envtestAssets(root, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	cmd := exec.Command(filepath.Join(root, "hack", "envtest-assets.sh"))
	cmd.Dir, cmd.Stderr = root, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
