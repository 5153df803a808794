package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// What the portal shows: a page, its templates, and the answers that come before any page.

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
