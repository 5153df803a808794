package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
)

// Local is the portal of `kubectl licenses portal`: one viewer, the kubeconfig's user, on a port
// of 127.0.0.1. Other local users' browsers and other web pages that the viewer visits must not
// use it, so:
//   - a secret token, new at every start, comes in the printed URL; the first request trades it
//     for an HttpOnly, SameSite=Strict cookie (and a redirect drops it from the address bar);
//     every request needs the cookie;
//   - the Host header must name the loopback address and the port, which a page served under
//     another name (DNS rebinding) cannot fake;
//   - every change carries a CSRF token derived from the secret (see csrfToken), and a
//     cross-site Origin is refused.
type Local struct {
	token  string
	port   int
	viewer *Viewer
}

// NewLocal makes the local authenticator for the user of cfg, serving on port.
func NewLocal(cfg *rest.Config, port int) (*Local, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	return &Local{token: token, port: port, viewer: &Viewer{Client: c, csrfKey: []byte(token)}}, nil
}

// URL is the address to open: it carries the secret token.
func (l *Local) URL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/?token=%s", l.port, l.token)
}

// cookieName is per port: cookies do not tell ports apart, and two portals may run at once.
func (l *Local) cookieName() string { return fmt.Sprintf("seatkeeper-portal-%d", l.port) }

// Viewer is the kubeconfig's user, whoever passed the Guard.
func (l *Local) Viewer(*http.Request) (*Viewer, error) { return l.viewer, nil }

// Guard lets through only the browser that opened the printed address, under the loopback name.
func (l *Local) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.loopbackHost(r.Host) {
			refuse(w, r, http.StatusMisdirectedRequest, "guard.host")
			return
		}
		if t := r.URL.Query().Get("token"); t != "" {
			if !equal(t, l.token) {
				refuse(w, r, http.StatusUnauthorized, "guard.token")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: l.cookieName(), Value: l.token, Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q := r.URL.Query()
			q.Del("token")
			// Not a redirect: when the address comes from elsewhere (the --open launch file, a
			// link in a terminal) the browser would not send a SameSite=Strict cookie on the
			// redirected request. A page of the portal's own that moves on is same-site.
			moveOn(w, localPath(r.URL.Path, q))
			return
		}
		ck, err := r.Cookie(l.cookieName())
		if err != nil || !equal(ck.Value, l.token) {
			refuse(w, r, http.StatusUnauthorized, "guard.token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost tells whether host (the Host header) names this portal on the loopback interface.
func (l *Local) loopbackHost(host string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil || p != fmt.Sprint(l.port) {
		return false
	}
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

// Bearer is the in-cluster portal: an authenticating proxy in front of it (oauth2-proxy, an
// ingress with OIDC) signs the user in and passes their token as `Authorization: Bearer …`. The
// portal sends every API request with that token, so the API server sees the user; the portal's
// own service account has no rights and no token.
type Bearer struct {
	// base is the API server's address and CA, without credentials.
	base *rest.Config
}

// NewBearer makes the authenticator of the in-cluster portal. Credentials in cfg are dropped:
// only its host and TLS settings are used.
func NewBearer(cfg *rest.Config) *Bearer {
	base := rest.AnonymousClientConfig(cfg)
	return &Bearer{base: base}
}

// csrfCookie holds the in-cluster portal's CSRF secret of one browser. The key is not the bearer
// token, which the proxy renews every few minutes (that would void every open form), nor a
// secret of the process (replicas would not share it): a random value per browser, which another
// site can neither read nor set, and whose HMAC every form carries.
const csrfCookie = "seatkeeper-portal-csrf"

// Guard asks a request without a bearer token to sign in, and gives a browser its CSRF secret.
func (b *Bearer) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !strings.HasPrefix(r.URL.Path, "/static/") && bearerToken(r) == "" {
			refuse(w, r, http.StatusUnauthorized, "guard.signin")
			return
		}
		if c, err := r.Cookie(csrfCookie); err != nil || len(c.Value) < 32 {
			secret := make([]byte, 32)
			if _, err := rand.Read(secret); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			c := &http.Cookie{Name: csrfCookie, Value: base64.RawURLEncoding.EncodeToString(secret), Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"}
			http.SetCookie(w, c)
			r.AddCookie(c) // this request's forms already carry it
		}
		next.ServeHTTP(w, r)
	})
}

// Viewer is the request's user, known by their bearer token.
func (b *Bearer) Viewer(r *http.Request) (*Viewer, error) {
	token := bearerToken(r)
	if token == "" {
		return nil, errSignIn
	}
	secret, err := r.Cookie(csrfCookie)
	if err != nil {
		return nil, errSignIn
	}
	cfg := rest.CopyConfig(b.base)
	cfg.BearerToken = token
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Viewer{Client: c, csrfKey: []byte(secret.Value)}, nil
}

func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// csrfToken is what every form of the viewer's pages carries: an HMAC of the viewer's secret
// (the local token, or the in-cluster portal's CSRF cookie),
// which another site can neither read (same-origin policy) nor compute.
func (v *Viewer) csrfToken() string {
	m := hmac.New(sha256.New, v.csrfKey)
	m.Write([]byte("seatkeeper-portal csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkChange tells whether a POST comes from one of the viewer's own pages: the CSRF token, and
// no cross-site Origin or Sec-Fetch-Site.
func (v *Viewer) checkChange(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" {
		host := strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://")
		if host != r.Host {
			return false
		}
	}
	return equal(r.PostFormValue("csrf"), v.csrfToken())
}

// moveOn answers with a page that sends the browser on to to (a path of this portal).
func moveOn(w http.ResponseWriter, to string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	to = html.EscapeString(to)
	_, _ = fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s">`+
		`<title>seatkeeper</title><p><a href="%s">Open the licence portal</a></p>`, to, to)
}

// LaunchPage writes a page that sends the browser on to url, readable by this user alone, and
// returns its file: URL, for `kubectl licenses portal --open`. The browser is opened on that file
// rather than on url: a command line (of xdg-open, and of the browser it starts) is readable by
// every user of the machine, and url carries the portal's secret. remove deletes the file.
func LaunchPage(url string) (fileURL string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "kubectl-licenses-portal-") // 0700
	if err != nil {
		return "", nil, err
	}
	remove = func() { _ = os.RemoveAll(dir) }
	page := filepath.Join(dir, "open.html")
	body := fmt.Sprintf(`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s">`+
		`<title>seatkeeper licence portal</title><p><a href="%s">Open the licence portal</a>`, html.EscapeString(url), html.EscapeString(url))
	if err := os.WriteFile(page, []byte(body), 0o600); err != nil {
		remove()
		return "", nil, err
	}
	u := neturl.URL{Scheme: "file", Path: filepath.ToSlash(page)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // C:/… on Windows
	}
	return u.String(), remove, nil
}

// localPath is a path of this portal with a query, for a redirect: it never names another host
// (//evil.example, /\evil.example), and control characters are escaped.
func localPath(p string, q neturl.Values) string {
	u := neturl.URL{Path: "/" + strings.TrimLeft(strings.ReplaceAll(p, "\\", "/"), "/"), RawQuery: q.Encode()}
	return u.String()
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
