package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/access"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// req is one request to a page: the viewer, their language and time zone, and "now".
type req struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	ctx  context.Context
	v    *Viewer
	lang string
	loc  *time.Location
	now  time.Time
}

// page is what a template renders: the frame (title, navigation, messages) and the page's data.
type page struct {
	*req
	// template is the page's file in templates/, without .html.
	template string
	status   int
	Title    string
	// Section is the navigation entry to highlight: accounts, licences, seats, sessions, orders.
	Section string
	NS      string
	// Self is the page's own address (a GET), where its forms come back to and which the live
	// refresh fetches.
	Self string
	// ShowOrders: the viewer may read orders, so the navigation offers them.
	ShowOrders bool
	// Live is the query of /live that feeds this page's updates; empty: the page does not follow.
	Live string
	// Notice is a success message, Problems are failures, Refusals the API server's refusals
	// worded as the role that would allow the action.
	Notice   string
	Problems []string
	Refusals []string
	Data     any
}

// T translates key into the viewer's language.
func (q *req) T(key string, args ...any) string { return translate(q.lang, key, args...) }

// Lang is the viewer's language, for <html lang>.
func (q *req) Lang() string { return q.lang }

// Zone is the name of the viewer's time zone.
func (q *req) Zone() string { return q.loc.String() }

// Time formats t in the viewer's time zone and language; "" for the zero time.
func (q *req) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(q.loc).Format(dateLayouts[q.lang])
}

// Dur formats a duration as h:mm:ss, as the session log does.
func (q *req) Dur(d time.Duration) string { return report.ClockDuration(max(d, 0)) }

// Span formats a rule's duration as people write it: 1m, 24h, 1h30m.
func (q *req) Span(d time.Duration) string { return span(d) }

func span(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// CSRF is the token every form of the page carries.
func (q *req) CSRF() string { return q.v.csrfToken() }

// Langs and Zones are the choices of the preferences form.
func (q *req) Langs() []string { return languages }
func (q *req) Zones() []string { return zoneChoices(q.loc.String()) }

// URL is the page's address with its filters, for the preferences form to come back to.
func (p *page) URL() string { return p.Self + p.Back() }

// Back is the page's query (its filters) without the notice of a previous change: forms send it
// back so that the page they return to keeps its filters.
func (q *req) Back() string {
	v := q.r.URL.Query()
	if q.r.Method == http.MethodPost {
		v, _ = url.ParseQuery(strings.TrimPrefix(q.r.PostFormValue("back"), "?"))
	}
	v.Del("notice")
	v.Del("n")
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// newReq reads the viewer and the preferences of a request.
func (s *Server) newReq(w http.ResponseWriter, r *http.Request) (*req, error) {
	q := &req{s: s, w: w, r: r, lang: pickLanguage(r), loc: pickZone(r), now: s.clock.Now()}
	if ns := r.PathValue("ns"); ns != "" && len(validation.IsDNS1123Label(ns)) > 0 {
		return q, errNoAccount
	}
	v, err := s.auth.Viewer(r)
	if err != nil {
		return q, err
	}
	q.v = v
	return q, nil
}

// errNoAccount is an address whose account is no namespace name.
var errNoAccount = errors.New("no such account")

// handle serves a request of the viewer: it reads who they are (answering by itself when it
// cannot), checks that a POST comes from one of their own pages, and gives fn the request with a
// deadline for its API calls.
func (s *Server) handle(fn func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.newReq(w, r)
		if err != nil {
			s.failed(w, r, q, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil || !q.v.checkChange(r) {
				refuse(w, r, http.StatusForbidden, "guard.csrf")
				return
			}
		}
		ctx, cancel := withTimeout(r)
		defer cancel()
		q.ctx = ctx
		fn(q)
	}
}

// view serves a page, or a form's POST: fn reads what it shows (or makes the change) and
// returns the page, or nil when it redirected.
func (s *Server) view(fn func(*req) *page) http.HandlerFunc {
	return s.handle(func(q *req) {
		if p := fn(q); p != nil {
			q.render(p)
		}
	})
}

// redirect sends the browser back to a page after a change, with a notice to show there.
func (q *req) redirect(to string, notice string, n int) *page {
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	v := u.Query()
	if notice != "" {
		v.Set("notice", notice)
		v.Set("n", fmt.Sprint(n))
	}
	u.RawQuery = v.Encode()
	http.Redirect(q.w, q.r, u.String(), http.StatusSeeOther)
	return nil
}

// notice is the message of ?notice= after a redirect: only the portal's own keys are shown.
func (q *req) notice() string {
	key := q.r.URL.Query().Get("notice")
	if key == "" || !hasKey("notice."+key) {
		return ""
	}
	if !strings.Contains(messagesEN["notice."+key], "%") {
		return q.T("notice." + key)
	}
	var n int
	_, _ = fmt.Sscan(q.r.URL.Query().Get("n"), &n)
	return q.T("notice."+key, n)
}

// render writes p, whole or (for the live refresh) only its live part.
func (q *req) render(p *page) {
	if p.Notice == "" {
		p.Notice = q.notice()
	}
	name := "layout"
	if q.r.Header.Get("X-Portal-Partial") == "live" {
		name = "live"
	} else {
		p.ShowOrders = q.can("list", "customerorders", "")
	}
	var buf bytes.Buffer
	if err := q.s.pages.execute(p.template, name, &buf, p); err != nil {
		q.s.log.Error(err, "render page", "page", p.template)
		http.Error(q.w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.Header().Set("Cache-Control", "no-store")
	if p.status != 0 {
		q.w.WriteHeader(p.status)
	}
	_, _ = buf.WriteTo(q.w)
}

// failed answers a request whose viewer is unknown.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, q *req, err error) {
	switch {
	case errors.Is(err, errSignIn):
		refuse(w, r, http.StatusUnauthorized, "guard.signin")
		return
	case errors.Is(err, errNoAccount):
		refuse(w, r, http.StatusNotFound, "guard.account")
		return
	}
	s.log.Error(err, "portal request")
	http.Error(w, q.T("error.internal"), http.StatusInternalServerError)
}

// refused records the API server's answer to an action on page p, in words the viewer can act
// on; it returns whether err was a refusal (else the caller handles err).
func (q *req) refused(p *page, err error, what access.Refusal) bool {
	switch {
	case apierrors.IsForbidden(err):
		p.Refusals = append(p.Refusals, q.refusal(what))
		if p.status == 0 {
			p.status = http.StatusForbidden
		}
		return true
	case apierrors.IsUnauthorized(err):
		p.Problems = append(p.Problems, q.T("error.unauthorized"))
		p.status = http.StatusUnauthorized
		return true
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err) && isMissingAPI(err):
		p.Problems = append(p.Problems, q.T("error.noapi"))
		p.status = http.StatusBadGateway
		return true
	}
	return false
}

// readFailed puts a failed read on page p: a refusal as the role that allows it, else the error.
func (q *req) readFailed(p *page, err error, what access.Refusal) {
	if !q.refused(p, err, what) {
		q.problem(p, err)
	}
}

// reading is the refusal of reading what (licence pools, seats, sessions) in account ns.
func reading(what, ns string) access.Refusal {
	return access.Refusal{What: "read " + what, Role: access.RoleReports, Namespace: ns}
}

// changing is the refusal of a change (change seats, end sessions) in account ns.
func changing(what, ns string) access.Refusal {
	return access.Refusal{What: what, Role: access.RoleLicenses, Namespace: ns}
}

// ordering is the refusal of an action on orders (cluster-scoped: a partner's).
func ordering(what string) access.Refusal {
	return access.Refusal{What: what, Role: access.RolePartner, ClusterScoped: true}
}

// problem records an error that is no refusal.
func (q *req) problem(p *page, err error) {
	p.Problems = append(p.Problems, q.T("error.api", err.Error()))
	if p.status == 0 {
		p.status = http.StatusBadGateway
	}
}

// isMissingAPI tells a 404 for the whole resource (seatkeeper not installed) from one object's.
func isMissingAPI(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s) && s.Status().Details != nil && s.Status().Details.Name == ""
}

// refusal words a refusal in the viewer's language; in English it is the plugin's sentence.
func (q *req) refusal(r access.Refusal) string {
	what := q.T("action." + r.What)
	if q.lang == "en" {
		r.What = what
		return r.Message()
	}
	// The portal works in one account at a time, or on orders: never "all namespaces".
	if r.ClusterScoped {
		return q.T("refusal.cluster", what, r.Role)
	}
	return q.T("refusal.namespace", what, r.Namespace, r.Role, access.RoleSupervisor)
}

// can asks the API server whether the viewer may do verb on resource in namespace ns ("" for
// cluster-scoped kinds): the pages show only the buttons the viewer can use. Any failure is a no.
func (q *req) can(verb, resource, ns string) bool {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Group: v1alpha1.GroupVersion.Group, Resource: resource,
		},
	}}
	if resource == "namespaces" {
		review.Spec.ResourceAttributes.Group = ""
	}
	if err := q.v.Client.Create(q.ctx, review); err != nil {
		return false
	}
	return review.Status.Allowed
}

// pageSet holds one template per page, each with the layout.
type pageSet struct {
	pages map[string]*template.Template
}

func parsePages() (*pageSet, error) {
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	set := &pageSet{pages: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(assets, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		set.pages[name] = t
	}
	return set, nil
}

func (ps *pageSet) execute(pageName, block string, buf *bytes.Buffer, data any) error {
	t, ok := ps.pages[pageName]
	if !ok {
		return fmt.Errorf("no page %q", pageName)
	}
	return t.ExecuteTemplate(buf, block, data)
}

var templateFuncs = template.FuncMap{
	"list": func(s ...string) []string { return s },
	// ratio is used/limit, with ∞ for no limit.
	"ratio": func(used int32, limit *int32) string {
		if limit == nil {
			return fmt.Sprintf("%d/∞", used)
		}
		return fmt.Sprintf("%d/%d", used, *limit)
	},
}

// securityHeaders sets the headers of every answer: no framing, no inline script, no referrer
// (the local URL carries the secret token).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// refuse answers with a short page of its own: the guard's refusals come before any page.
func refuse(w http.ResponseWriter, r *http.Request, status int, key string) {
	lang := pickLanguage(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	title := translate(lang, key+".title")
	_, _ = fmt.Fprintf(w, `<!doctype html><html lang="%s"><head><meta charset="utf-8"><title>%s</title>`+
		`<link rel="stylesheet" href="/static/portal.css"></head><body><main class="refused"><h1>%s</h1><p>%s</p></main></body></html>`,
		lang, template.HTMLEscapeString(title), template.HTMLEscapeString(title), template.HTMLEscapeString(translate(lang, key)))
}

// accountPath is the address of a section of account ns ("" for its licences).
func accountPath(ns, section string) string {
	return "/ns/" + url.PathEscape(ns) + "/" + section
}

// newPage starts a page of a section (accounts, licences, seats, sessions, orders), in account ns
// for the sections that have one.
func (q *req) newPage(template, section, ns, title string) *page {
	p := &page{req: q, template: template, Title: title, Section: section, NS: ns}
	switch {
	case ns != "":
		p.Live = "ns=" + url.QueryEscape(ns)
	case section == "orders":
		p.Live = "scope=orders"
	default:
		p.Live = "scope=accounts"
	}
	switch section {
	case "seats", "sessions":
		p.Self = accountPath(ns, section)
	case "orders":
		p.Self = "/orders"
	default:
		p.Self = q.r.URL.Path
	}
	return p
}
