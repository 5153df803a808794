// Package portal holds the licence portal's specs against a real kube-apiserver (envtest) with
// the operator running: its handlers over HTTP with real users and service-account tokens bound
// to seatkeeper's roles, and its pages in a real headless Chromium.
package portal

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/internal/portal"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

var (
	cfg     *rest.Config
	k8s     client.Client // direct client as system:masters: the spec's own setup and checks
	scheme  = testenv.Scheme()
	testEnv *envtest.Environment
	ctx     = context.Background()
)

func TestPortal(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Portal Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	testEnv = testenv.Environment()
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	// Cleanups run last first: the operator stops, the manifests go, then the control plane.
	DeferCleanup(func() { Expect(testEnv.Stop()).To(Succeed()) })
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	installManifests("config/rbac/privilege_roles.yaml")

	mgrCtx, stopManager := context.WithCancel(context.Background())
	DeferCleanup(stopManager)
	testenv.StartOperator(mgrCtx, cfg, scheme, "operator", controllers.Options{PoolWorkers: 2})
})

func init() {
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
}

// newNamespace creates a customer account for one spec.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "acme-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// person is a user of the API server with client-certificate credentials (as in a kubeconfig).
type person struct {
	name string
	cfg  *rest.Config
}

var people int

// newPerson adds a user to the API server.
func newPerson(name string) person {
	GinkgoHelper()
	people++
	name = fmt.Sprintf("%s-%d@acme.example", name, people)
	u, err := testEnv.AddUser(envtest.User{Name: name}, nil)
	Expect(err).NotTo(HaveOccurred())
	return person{name: name, cfg: u.Config()}
}

// memberOf adds a person who holds role in account ns, once the authorizer applies it.
func memberOf(ns, role, name string) person {
	GinkgoHelper()
	p := newPerson(name)
	grant(ns, role, userSubject(p.name), canList(p.cfg, &v1.SharedSessionList{}, ns))
	return p
}

// grant binds a seatkeeper role to a person in ns ("" for the whole cluster), and waits until
// the authorizer applies it.
func grant(ns, role string, subject rbacv1.Subject, probe func() error) {
	GinkgoHelper()
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	if ns == "" {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-"}, RoleRef: ref, Subjects: []rbacv1.Subject{subject}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(context.Background(), b) })
	} else {
		b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: role + "-"}, RoleRef: ref, Subjects: []rbacv1.Subject{subject}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
	}
	Eventually(probe).Should(Succeed())
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// canList is a probe for grant: the person may list kind in ns.
func canList(c *rest.Config, list client.ObjectList, ns string) func() error {
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return func() error {
		if ns == "" {
			return cl.List(ctx, list)
		}
		return cl.List(ctx, list, client.InNamespace(ns))
	}
}

// localPortal is `kubectl licenses portal` of one person: the portal on a port of 127.0.0.1.
type localPortal struct {
	url  string // with the secret token
	base string // http://127.0.0.1:PORT
	port int
}

// startLocalPortal serves a local portal for the person until the spec ends.
func startLocalPortal(p person, defaultNS string) localPortal {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	port := ln.Addr().(*net.TCPAddr).Port
	auth, err := portal.NewLocal(p.cfg, port)
	Expect(err).NotTo(HaveOccurred())
	srv, err := portal.New(portal.Options{Auth: auth, DefaultNamespace: defaultNS, Log: logf.Log.WithName("portal")})
	Expect(err).NotTo(HaveOccurred())
	serve(ln, srv)
	return localPortal{url: auth.URL(), base: fmt.Sprintf("http://127.0.0.1:%d", port), port: port}
}

// serve runs an HTTP server on ln until the spec ends.
func serve(ln net.Listener, h http.Handler) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	DeferCleanup(func() { _ = hs.Close() })
	return hs
}

// installManifests creates the objects of files under config/ until the suite ends.
func installManifests(paths ...string) {
	GinkgoHelper()
	testenv.InstallManifests(ctx, k8s, paths...)
}

// Fixtures.

func newPool(ns, name string, seats, sessions *int32, mutate ...func(*v1.LicensePool)) *v1.LicensePool {
	GinkgoHelper()
	p := &v1.LicensePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.LicensePoolSpec{Product: "remote-support", DisplayName: "Remote support", Seats: seats, ConcurrentSessions: sessions}}
	for _, m := range mutate {
		m(p)
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

func newSeat(ns, name, pool, assignee string, kind v1.AssigneeKind) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &v1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.SeatAssignmentSpec{PoolName: pool, Assignee: v1.Assignee{Kind: kind, Name: assignee}}})).To(Succeed())
}

func newSession(ns, name, pool, holder, peer string) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &v1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.SharedSessionSpec{PoolName: pool, Holder: holder, Peer: peer}})).To(Succeed())
}

func getSession(g Gomega, ns, name string) *v1.SharedSession {
	return testenv.Get[v1.SharedSession](ctx, g, k8s, ns, name)
}

func getSeat(g Gomega, ns, name string) *v1.SeatAssignment {
	return testenv.Get[v1.SeatAssignment](ctx, g, k8s, ns, name)
}

func getPool(g Gomega, ns, name string) *v1.LicensePool {
	return testenv.Get[v1.LicensePool](ctx, g, k8s, ns, name)
}

// account is a customer account with a pool of 2 named seats and 2 shared licences: two seats
// bound (alice, a device), one pending (carol), two sessions Active and one waiting.
func account() string {
	GinkgoHelper()
	ns := newNamespace()
	newPool(ns, "remote-support", ptr.To[int32](2), ptr.To[int32](2))
	newSeat(ns, "alice", "remote-support", "alice@acme.example", v1.AssigneeUser)
	newSeat(ns, "kiosk", "remote-support", "kiosk-7", v1.AssigneeDevice)
	Eventually(func(g Gomega) { g.Expect(getSeat(g, ns, "kiosk").Status.Phase).To(Equal(v1.SeatBound)) }).Should(Succeed())
	newSeat(ns, "carol", "remote-support", "carol@acme.example", v1.AssigneeUser)
	newSession(ns, "s-alice", "remote-support", "alice@acme.example", "customer-1")
	newSession(ns, "s-bob", "remote-support", "bob@acme.example", "customer-2")
	Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s-bob").Status.Phase).To(Equal(v1.SessionActive)) }).Should(Succeed())
	newSession(ns, "s-dave", "remote-support", "dave@acme.example", "")
	Eventually(func(g Gomega) {
		g.Expect(getSession(g, ns, "s-dave").Status.Phase).To(Equal(v1.SessionWaiting))
		g.Expect(getSeat(g, ns, "carol").Status.Phase).To(Equal(v1.SeatPending))
	}).Should(Succeed())
	return ns
}

func itoa(n int) string { return fmt.Sprint(n) }

// secretOf is the token in a local portal's address.
func secretOf(lp localPortal) string {
	_, t, _ := strings.Cut(lp.url, "token=")
	return t
}
