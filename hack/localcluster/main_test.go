//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const root = "../.."

// runManifests are the files hack/run.sh gives a `make run` cluster besides the CRDs.
func runManifests(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "hack/run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)cluster_manifests=\((.*?)\)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("hack/run.sh has no cluster_manifests=( … ) list")
	}
	return strings.Fields(string(m[1]))
}

// deployedClusterFiles are the files of config/rbac and config/admission (which `make deploy`
// installs) holding cluster-wide objects other than the operator's own identity: what a
// `make run` cluster must have too for the README's privilege examples to read the same.
func deployedClusterFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"config/rbac", "config/admission"} {
		data, err := os.ReadFile(filepath.Join(root, dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			Resources []string `json:"resources"`
		}
		if err := utilyaml.Unmarshal(data, &k); err != nil {
			t.Fatal(err)
		}
		for _, f := range k.Resources {
			objs, err := readObjects(filepath.Join(root, dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool {
				return o.GetNamespace() == "" && o.GetName() != "seatkeeper-manager" && o.GetKind() != "ServiceAccount"
			}) {
				out = append(out, filepath.Join(dir, f))
			}
		}
	}
	return out
}

// TestMakeRunInstallsWhatDeployDoes: every cluster-wide object `make deploy` installs (but the
// operator's own role) is in the list hack/run.sh installs, and nothing else is.
func TestMakeRunInstallsWhatDeployDoes(t *testing.T) {
	got, want := runManifests(t), deployedClusterFiles(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("hack/run.sh installs %v; make deploy's cluster-wide files are %v", got, want)
	}
}

// TestCreateFiles creates run.sh's manifests on a real API server, as localcluster does.
func TestCreateFiles(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("needs kube-apiserver and etcd: KUBEBUILDER_ASSETS=$(./hack/envtest-assets.sh), as make test sets")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	var files []string
	for _, f := range runManifests(t) {
		files = append(files, filepath.Join(root, f))
	}
	if err := createFiles(cfg, "test", files...); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ apiVersion, kind, name string }{
		{"rbac.authorization.k8s.io/v1", "ClusterRole", "seatkeeper-licenses"},
		{"rbac.authorization.k8s.io/v1", "ClusterRole", "seatkeeper-agent"},
		{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "seatkeeper-agent-sessions"},
		{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "seatkeeper-agent-sessions"},
	} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(want.apiVersion)
		u.SetKind(want.kind)
		if err := c.Get(context.Background(), client.ObjectKey{Name: want.name}, u); err != nil {
			t.Errorf("%s %s: %v", want.kind, want.name, err)
		}
	}
}
