package portal

import (
	"cmp"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// sessionView is one session on the sessions page. Licences is how many shared licences it
// takes (spec.count).
type sessionView struct {
	Name, Pool, Holder, Peer, State, Phase, Reason, Message string
	Position, Licences                                      int32
	Created, Start, End                                     time.Time
	Duration                                                time.Duration
	HasDuration                                             bool
	// Ending: spec.terminate is set and the operator has not ended it yet.
	Ending bool
	// EndsAt is set while an Active session is under notice: the pool's licences were reduced,
	// or, with PreemptedBy, that waiting session of higher priority takes the licence then.
	EndsAt      time.Time
	PreemptedBy string
	// Overdraft: the session holds licences beyond the pool's limit (its condition Overdraft).
	Overdraft bool
}

func sessionViewOf(s *v1alpha1.SharedSession, now time.Time) sessionView {
	r := report.SessionRowOf(s, now)
	v := sessionView{
		Name: r.Name, Pool: r.Pool, Holder: r.Holder, Peer: r.Peer, State: r.State, Phase: r.Phase,
		Reason: r.Reason, Message: r.Message, Licences: r.Licences, Created: s.CreationTimestamp.Time,
		Ending: s.Spec.Terminate && s.Status.Phase != v1alpha1.SessionEnded,
	}
	if r.QueuePosition != nil {
		v.Position = *r.QueuePosition
	}
	if r.Start != nil {
		v.Start = *r.Start
	}
	if r.End != nil {
		v.End = *r.End
	}
	if r.DurationSeconds != nil {
		v.Duration, v.HasDuration = time.Duration(*r.DurationSeconds)*time.Second, true
	}
	if s.Status.Phase == v1alpha1.SessionActive {
		if s.Status.EndsAt != nil {
			v.EndsAt, v.PreemptedBy = s.Status.EndsAt.Time, s.Status.PreemptedBy
		}
		v.Overdraft = meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionOverdraft)
	}
	return v
}

// sessionFilter is the session log's filter, from the page's URL: pool, holder, phase, and a time
// range in the viewer's time zone (datetime-local values).
type sessionFilter struct {
	Pool, Holder, Phase string
	From, To            string
	from, to            time.Time
}

func parseSessionFilter(v url.Values, loc *time.Location) sessionFilter {
	f := sessionFilter{Pool: v.Get("pool"), Holder: v.Get("holder"), Phase: v.Get("phase"), From: v.Get("from"), To: v.Get("to")}
	if !slices.Contains([]string{"", string(v1alpha1.SessionWaiting), string(v1alpha1.SessionActive), string(v1alpha1.SessionEnded)}, f.Phase) {
		f.Phase = ""
	}
	f.from, f.From = parseLocal(f.From, loc)
	f.to, f.To = parseLocal(f.To, loc)
	return f
}

// parseLocal reads a datetime-local value ("2026-12-01T09:30"), or gives nothing back.
func parseLocal(s string, loc *time.Location) (time.Time, string) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, s
		}
	}
	return time.Time{}, ""
}

// matches tells whether a session is in the filter: a time range keeps the sessions whose time
// (from creation, or the grant, to the end, or now) overlaps it.
func (f sessionFilter) matches(s sessionView, now time.Time) bool {
	if f.Pool != "" && s.Pool != f.Pool || f.Holder != "" && s.Holder != f.Holder || f.Phase != "" && s.Phase != f.Phase {
		return false
	}
	begin, end := cmp.Or(s.Start, s.Created), s.End
	if end.IsZero() {
		end = now
	}
	return (f.from.IsZero() || !end.Before(f.from)) && (f.to.IsZero() || !begin.After(f.to))
}

// query is the filter as URL parameters.
func (f sessionFilter) query() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"pool": f.Pool, "holder": f.Holder, "phase": f.Phase, "from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// Values is the filter's fields that are set, for the export form's hidden fields.
func (f sessionFilter) Values() map[string]string {
	m := map[string]string{}
	for k, v := range f.query() {
		m[k] = v[0]
	}
	return m
}

type sessionsData struct {
	Filter             sessionFilter
	Active, Queue, Log []sessionView
	// Pools are the account's pools, for the filter.
	Pools  []string
	CanEnd bool
	// Readable: the viewer may read the sessions (else the filters and export are not offered).
	Readable bool
	Formats  []string
	// Confirm lists the sessions the viewer chose to end, for the confirmation step.
	Confirm []sessionView
}

// sessionsPage shows the sessions in use, the queue, and the session log with its filters and
// the CSV export.
func (s *Server) sessionsPage(q *req) *page {
	ns := q.r.PathValue("ns")
	p := q.newPage("sessions", "sessions", ns, q.T("sessions.title"))
	q.fillSessions(p, ns, parseSessionFilter(q.r.URL.Query(), q.loc))
	return p
}

func (q *req) fillSessions(p *page, ns string, f sessionFilter) []v1alpha1.SharedSession {
	d := &sessionsData{Filter: f, Formats: csvFormatNames}
	p.Data = d
	// Ending anyone's session is a licence manager's: patch, and the verb manage that the
	// agents' admission policy asks for (an agent may patch only its own sessions).
	var canPatch, canManage bool
	var pools []v1alpha1.LicensePool
	var poolErr error
	var wg sync.WaitGroup
	wg.Go(func() { canPatch = q.can("patch", "sharedsessions", ns) })
	wg.Go(func() { canManage = q.can("manage", "sharedsessions", ns) })
	wg.Go(func() { pools, poolErr = report.Pools(q.ctx, q.v.Client, ns) })
	defer func() {
		wg.Wait()
		d.CanEnd = canPatch && canManage
		if poolErr == nil {
			for _, pl := range pools {
				d.Pools = append(d.Pools, pl.Name)
			}
			slices.Sort(d.Pools)
			d.Pools = slices.Compact(d.Pools)
		}
	}()
	items, err := report.Sessions(q.ctx, q.v.Client, ns, f.Pool, f.Holder)
	if err != nil {
		q.readFailed(p, err, reading("sessions", ns))
		return nil
	}
	d.Readable = true
	report.SortSessions(items)
	for i := range items {
		v := sessionViewOf(&items[i], q.now)
		if f.Pool != "" && v.Pool != f.Pool || f.Holder != "" && v.Holder != f.Holder {
			continue
		}
		switch v.Phase {
		case string(v1alpha1.SessionActive):
			d.Active = append(d.Active, v)
		case string(v1alpha1.SessionWaiting):
			d.Queue = append(d.Queue, v)
		}
		if f.matches(v, q.now) {
			d.Log = append(d.Log, v)
		}
	}
	slices.SortStableFunc(d.Queue, func(a, b sessionView) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(positionOrLast(a.Position), positionOrLast(b.Position)))
	})
	// The log: newest first, as people read a log.
	slices.Reverse(d.Log)
	return items
}

func positionOrLast(p int32) int32 {
	if p == 0 {
		return 1 << 30
	}
	return p
}

// terminatePatch ends a session, keeping its record; see kubectl-licenses' end.
var terminatePatch = client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))

// endSessions ends the chosen sessions: the first POST shows them for confirmation, the second
// (confirm=yes) sets spec.terminate on each. Every request goes to the API server, which decides:
// a viewer without the right gets its refusal, worded as the role that allows it.
func (s *Server) endSessions(q *req) *page {
	ns := q.r.PathValue("ns")
	p := q.newPage("sessions", "sessions", ns, q.T("sessions.title"))
	names := slices.Compact(slices.Sorted(slices.Values(q.r.PostForm["session"])))
	back := backQuery(q)
	values, _ := url.ParseQuery(strings.TrimPrefix(back, "?"))
	f := parseSessionFilter(values, q.loc)
	if len(names) == 0 {
		p.Problems = append(p.Problems, q.T("sessions.end.none"))
		p.status = http.StatusBadRequest
		q.fillSessions(p, ns, f)
		return p
	}
	if q.r.PostFormValue("confirm") != "yes" {
		items := q.fillSessions(p, ns, f)
		d := p.Data.(*sessionsData)
		for i := range items {
			if slices.Contains(names, items[i].Name) {
				d.Confirm = append(d.Confirm, sessionViewOf(&items[i], q.now))
			}
		}
		p.template, p.Live = "confirm-end", ""
		return p
	}
	ended := 0
	for _, name := range names {
		sess := &v1alpha1.SharedSession{}
		sess.Namespace, sess.Name = ns, name
		err := q.v.Client.Patch(q.ctx, sess, terminatePatch)
		switch {
		case err == nil:
			ended++
		case apierrors.IsNotFound(err):
			p.Problems = append(p.Problems, q.T("sessions.end.gone", name))
		case apierrors.IsInvalid(err) && q.hasEnded(ns, name):
			// It ended between the list and the confirmation: an Ended session's record is final.
			p.Problems = append(p.Problems, q.T("sessions.end.ended", name))
		case apierrors.IsForbidden(err):
			if len(p.Refusals) == 0 {
				q.refused(p, err, changing("end sessions", ns))
			}
		default:
			q.changeFailed(p, err, changing("end sessions", ns))
		}
	}
	if len(p.Refusals) == 0 && len(p.Problems) == 0 {
		return q.redirect(accountPath(ns, "sessions")+back, "ended", ended)
	}
	if ended > 0 {
		p.Notice = q.T("notice.ended", ended)
	}
	q.fillSessions(p, ns, f)
	return p
}

// hasEnded reports whether the session has ended, as the API server tells the viewer.
func (q *req) hasEnded(ns, name string) bool {
	s := &v1alpha1.SharedSession{}
	return q.v.Client.Get(q.ctx, client.ObjectKey{Namespace: ns, Name: name}, s) == nil && s.Status.Phase == v1alpha1.SessionEnded
}

// csvFormats are the date formats of the CSV export; the first is the plugin's (in UTC it is
// exactly `kubectl licenses sessions -o csv`).
var csvFormats = map[string]string{
	"rfc3339":  time.RFC3339,
	"iso":      "2006-01-02 15:04:05",
	"european": "02/01/2006 15:04:05",
	"us":       "01/02/2006 15:04:05",
}

var csvFormatNames = []string{"rfc3339", "iso", "european", "us"}

// exportSessions is "Export CSV": the session log with the columns of
// `kubectl licenses sessions -o csv`, all rows of the account (scope=all) or the rows the filter
// shows, with times in the date format and time zone the viewer picked.
func (s *Server) exportSessions(q *req) {
	w, r := q.w, q.r
	ns := r.PathValue("ns")
	query := r.URL.Query()
	loc := q.loc
	if z := query.Get("tz"); z != "" {
		if l, err := time.LoadLocation(z); err == nil {
			loc = l
		}
	}
	layout, ok := csvFormats[query.Get("format")]
	if !ok {
		layout = time.RFC3339
	}
	// The filter's times are those the page showed, in the viewer's zone; the CSV's are in loc.
	f := parseSessionFilter(query, q.loc)
	if query.Get("scope") == "all" {
		f = sessionFilter{}
	}
	items, err := report.Sessions(q.ctx, q.v.Client, ns, f.Pool, f.Holder)
	if err != nil {
		p := q.newPage("sessions", "sessions", ns, q.T("sessions.title"))
		p.Data = &sessionsData{Filter: f}
		q.readFailed(p, err, reading("sessions", ns))
		q.render(p)
		return
	}
	report.SortSessions(items)
	rows := make([]report.SessionRow, 0, len(items))
	for i := range items {
		if f.matches(sessionViewOf(&items[i], q.now), q.now) {
			rows = append(rows, report.SessionRowOf(&items[i], q.now))
		}
	}
	name := fmt.Sprintf("sessions-%s-%s.csv", ns, q.now.In(loc).Format("20060102-1504"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Cache-Control", "no-store")
	if err := report.WriteCSV(w, rows, func(t time.Time) string { return t.In(loc).Format(layout) }); err != nil {
		s.log.Error(err, "write CSV")
	}
}
