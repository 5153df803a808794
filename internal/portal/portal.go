// Package portal serves seatkeeper's web pages for the people of a customer account: licence
// administrators, supervisors, resellers and report readers. Every page reads and acts with the
// viewer's own Kubernetes identity, never with the portal's: the kubectl plugin's
// `kubectl licenses portal` runs it on 127.0.0.1 with the user's kubeconfig (Local), and
// cmd/seatkeeper-portal runs it in the cluster behind a single sign-on proxy that passes each
// user's bearer token (Bearer). So the privilege levels (reports, licenses, supervisor, partner)
// hold in the browser exactly as in kubectl: the API server decides, and the pages show only
// the buttons its answers allow.
//
// The pages are rendered on the server (html/template), work without JavaScript, and follow
// changes live through Server-Sent Events fed by watches made with the viewer's identity. HTML,
// CSS and the small script are embedded in the binary.
package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure a portal.
type Options struct {
	// Auth says who the viewer is and how their requests reach the API server: Local or Bearer.
	Auth Authenticator
	// Clock gives "now" (durations of active sessions, the usage chart); the real one if nil.
	Clock clock.PassiveClock
	// Log receives request failures that are the portal's own (never the viewer's refusals).
	Log logr.Logger
	// DefaultNamespace is proposed on the accounts page when the viewer may not list namespaces
	// (the kubeconfig context's namespace).
	DefaultNamespace string
}

// Server is the portal: an http.Handler.
type Server struct {
	auth    Authenticator
	clock   clock.PassiveClock
	log     logr.Logger
	defNS   string
	pages   *pageSet
	handler http.Handler
}

// New makes a portal.
func New(o Options) (*Server, error) {
	if o.Auth == nil {
		return nil, errors.New("portal: no Authenticator")
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{auth: o.Auth, clock: o.Clock, log: o.Log, defNS: o.DefaultNamespace, pages: pages}
	s.handler = securityHeaders(o.Auth.Guard(s.routes()))
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static := http.FileServerFS(assets)
	mux.Handle("GET /static/", static)
	mux.HandleFunc("GET /{$}", s.view(s.accountsPage))
	mux.HandleFunc("GET /account", s.view(s.openAccount))
	mux.HandleFunc("GET /ns/{ns}/{$}", s.view(s.poolsPage))
	mux.HandleFunc("GET /ns/{ns}/pools/{pool}", s.view(s.licencePage))
	mux.HandleFunc("GET /ns/{ns}/seats", s.view(s.seatsPage))
	mux.HandleFunc("POST /ns/{ns}/seats", s.view(s.addSeat))
	mux.HandleFunc("POST /ns/{ns}/seats/{seat}/enabled", s.view(s.toggleSeat))
	mux.HandleFunc("GET /ns/{ns}/sessions", s.view(s.sessionsPage))
	mux.HandleFunc("GET /ns/{ns}/sessions.csv", s.handle(s.exportSessions))
	mux.HandleFunc("POST /ns/{ns}/sessions/end", s.view(s.endSessions))
	mux.HandleFunc("GET /orders", s.view(s.ordersPage))
	mux.HandleFunc("POST /orders/{order}/assign", s.view(s.assignOrder))
	mux.HandleFunc("POST /orders/{order}/cancel", s.view(s.cancelOrder))
	mux.HandleFunc("GET /live", s.handle(s.live))
	mux.HandleFunc("POST /preferences", s.handle(s.setPreferences))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return mux
}

// Authenticator is how the portal knows its viewer: Guard refuses requests that do not come from
// them (and lets through the ones that do), Viewer returns the viewer's client for a request.
type Authenticator interface {
	// Guard wraps the portal's handler with the checks of this way of signing in.
	Guard(http.Handler) http.Handler
	// Viewer returns the request's viewer, or an error that names what is missing.
	Viewer(*http.Request) (*Viewer, error)
}

// Viewer is the person behind one request: a client that acts with their identity, and the key
// their CSRF tokens derive from.
type Viewer struct {
	Client client.WithWatch
	// csrfKey is secret to the viewer and the portal: the local token or the CSRF cookie.
	csrfKey []byte
}

// errSignIn is a request with no credentials (Bearer: no Authorization header).
var errSignIn = errors.New("not signed in")

// Scheme holds the kinds the portal reads and writes.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(authorizationv1.AddToScheme(s))
	return s
}

// restMapper knows the portal's kinds without asking the API server: a client per bearer token
// then costs no discovery. All their plurals are the lower-case kind plus "s".
func restMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, k := range []string{"LicensePool", "SeatAssignment", "SharedSession"} {
		m.Add(v1alpha1.GroupVersion.WithKind(k), meta.RESTScopeNamespace)
	}
	m.Add(v1alpha1.GroupVersion.WithKind("CustomerOrder"), meta.RESTScopeRoot)
	m.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: authorizationv1.GroupName, Version: "v1", Kind: "SelfSubjectAccessReview"}, meta.RESTScopeRoot)
	return m
}

var mapper = restMapper()

// newClient makes a client that acts with cfg's credentials.
func newClient(cfg *rest.Config) (client.WithWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "seatkeeper-portal"
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("client for the API server: %w", err)
	}
	return c, nil
}

// requestTimeout bounds the API calls of one page.
const requestTimeout = 15 * time.Second

func withTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), requestTimeout)
}
