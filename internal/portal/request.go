package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

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
