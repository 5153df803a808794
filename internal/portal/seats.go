package portal

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/access"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// seatView is one named seat on the seats page, with what its toggle may do.
type seatView struct {
	Name, Pool, Product, Assignee, Kind string
	Phase, Reason, Message              string
	Enabled                             bool
	// Toggle is the state of the on/off switch: see toggleOf.
	Toggle toggle
	// ManagedBy names the system that manages the pool's licences (read-only toggle).
	ManagedBy string
}

// toggle is what a seat's on/off switch can do for this viewer.
type toggle int

const (
	// toggleHidden: the viewer may not change seats; the page shows the state in words and
	// no button.
	toggleHidden toggle = iota
	// toggleOn and toggleOff switch the seat on or off.
	toggleOn
	toggleOff
	// toggleUnavailable: off, and no seat is free ("licences not available").
	toggleUnavailable
	// toggleManaged: another system manages the pool's licences; read-only.
	toggleManaged
)

func (t toggle) Shown() bool       { return t != toggleHidden }
func (t toggle) Usable() bool      { return t == toggleOn || t == toggleOff }
func (t toggle) TurnsOn() bool     { return t == toggleOn }
func (t toggle) Unavailable() bool { return t == toggleUnavailable }
func (t toggle) Managed() bool     { return t == toggleManaged }

// toggleOf decides a seat's switch: what the viewer may do (canChange), whether the seat is on,
// and its pool (nil when unknown).
func toggleOf(canChange, enabled bool, pool *poolView) toggle {
	switch {
	case !canChange:
		return toggleHidden
	case pool != nil && pool.ManagedBy != "":
		return toggleManaged
	case enabled:
		return toggleOff
	case pool != nil && !pool.SeatFree():
		return toggleUnavailable
	}
	return toggleOn
}

// seatFilter is the seats page's filter, from its URL.
type seatFilter struct {
	Pool, Product, Assignee string
}

func (f seatFilter) matches(s seatView) bool {
	return (f.Pool == "" || s.Pool == f.Pool) && (f.Product == "" || s.Product == f.Product) &&
		(f.Assignee == "" || strings.Contains(strings.ToLower(s.Assignee), strings.ToLower(f.Assignee)))
}

type seatsData struct {
	Filter   seatFilter
	Seats    []seatView
	Pools    []poolView
	Products []string
	CanAdd   bool
	// Readable: the viewer may read the seats (else the filter is not offered).
	Readable bool
	// Form is what the add form had when it was refused, to fill it again.
	Form struct{ Pool, Assignee, Kind string }
}

// seatsPage lists the named seats with their toggles, and the form to add one.
func (s *Server) seatsPage(q *req) *page {
	ns := q.r.PathValue("ns")
	p := q.newPage("seats", "seats", ns, q.T("seats.title"))
	q.fillSeats(p, ns)
	return p
}

func (q *req) fillSeats(p *page, ns string) {
	query, _ := url.ParseQuery(strings.TrimPrefix(q.Back(), "?"))
	d := &seatsData{Filter: seatFilter{Pool: query.Get("pool"), Product: query.Get("product"), Assignee: query.Get("assignee")}}
	if prev, ok := p.Data.(*seatsData); ok {
		d.Form = prev.Form
	}
	p.Data = d
	var canPatch, canCreate bool
	var wg sync.WaitGroup
	wg.Go(func() { canPatch = q.can("patch", "seatassignments", ns) })
	wg.Go(func() { canCreate = q.can("create", "seatassignments", ns) })

	pools, poolErr := report.Pools(q.ctx, q.v.Client, ns)
	seats, seatErr := report.Seats(q.ctx, q.v.Client, ns, d.Filter.Pool, "")
	wg.Wait()
	if seatErr != nil {
		q.readFailed(p, seatErr, reading("seats", ns))
		return
	}
	d.Readable = true
	byName := map[string]*poolView{}
	if poolErr == nil {
		for i := range pools {
			d.Pools = append(d.Pools, poolViewOf(&pools[i]))
		}
		slices.SortFunc(d.Pools, func(a, b poolView) int { return cmp.Compare(a.Name, b.Name) })
		for i := range d.Pools {
			byName[d.Pools[i].Name] = &d.Pools[i]
			if !slices.Contains(d.Products, d.Pools[i].Product) {
				d.Products = append(d.Products, d.Pools[i].Product)
			}
		}
		slices.Sort(d.Products)
	}
	d.CanAdd = canCreate && len(d.Pools) > 0
	for _, st := range seats {
		pool := byName[st.Spec.PoolName]
		v := seatView{
			Name: st.Name, Pool: st.Spec.PoolName, Assignee: st.Spec.Assignee.Name,
			Kind:  string(cmp.Or(st.Spec.Assignee.Kind, v1alpha1.AssigneeUser)),
			Phase: string(st.Status.Phase), Reason: string(st.Status.Reason), Message: st.Status.Message,
			Enabled: st.Spec.Enabled == nil || *st.Spec.Enabled,
		}
		if pool != nil {
			v.Product, v.ManagedBy = pool.Product, pool.ManagedBy
		}
		v.Toggle = toggleOf(canPatch, v.Enabled, pool)
		if d.Filter.matches(v) {
			d.Seats = append(d.Seats, v)
		}
	}
	slices.SortFunc(d.Seats, func(a, b seatView) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(strings.ToLower(a.Assignee), strings.ToLower(b.Assignee)), cmp.Compare(a.Name, b.Name))
	})
}

// toggleSeat turns a seat on or off (spec.enabled). Turning one on when its pool has no seat
// free is refused with "licences not available", as the toggle says; the operator would keep it
// Pending anyway.
func (s *Server) toggleSeat(q *req) *page {
	ns, name := q.r.PathValue("ns"), q.r.PathValue("seat")
	on := q.r.PostFormValue("enabled") == "true"
	p := q.newPage("seats", "seats", ns, q.T("seats.title"))
	back := accountPath(ns, "seats") + backQuery(q)
	seat := &v1alpha1.SeatAssignment{}
	if err := q.v.Client.Get(q.ctx, client.ObjectKey{Namespace: ns, Name: name}, seat); err != nil {
		q.changeFailed(p, err, reading("seats", ns))
		q.fillSeats(p, ns)
		return p
	}
	pool := &v1alpha1.LicensePool{}
	if err := q.v.Client.Get(q.ctx, client.ObjectKey{Namespace: ns, Name: seat.Spec.PoolName}, pool); err == nil {
		v := poolViewOf(pool)
		var why string
		switch {
		case v.ManagedBy != "":
			why = q.T("seats.managed.long", seat.Spec.PoolName, v.ManagedBy)
		case on && !v.SeatFree():
			why = q.T("seats.unavailable.long", seat.Spec.PoolName)
		}
		if why != "" {
			p.Problems = append(p.Problems, why)
			p.status = http.StatusConflict
			q.fillSeats(p, ns)
			return p
		}
	}
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"enabled":%t}}`, on))
	if err := q.v.Client.Patch(q.ctx, seat, patch); err != nil {
		q.changeFailed(p, err, changing("change seats", ns))
		q.fillSeats(p, ns)
		return p
	}
	if on {
		return q.redirect(back, "seat-on", 1)
	}
	return q.redirect(back, "seat-off", 1)
}

// addSeat creates a SeatAssignment from the add form.
func (s *Server) addSeat(q *req) *page {
	ns := q.r.PathValue("ns")
	p := q.newPage("seats", "seats", ns, q.T("seats.title"))
	pool, assignee := q.r.PostFormValue("pool"), strings.TrimSpace(q.r.PostFormValue("assignee"))
	kind := v1alpha1.AssigneeKind(q.r.PostFormValue("kind"))
	if kind != v1alpha1.AssigneeDevice {
		kind = v1alpha1.AssigneeUser
	}
	form := &seatsData{}
	form.Form.Pool, form.Form.Assignee, form.Form.Kind = pool, assignee, string(kind)
	p.Data = form
	if pool == "" || assignee == "" {
		p.Problems = append(p.Problems, q.T("seats.add.missing"))
		p.status = http.StatusBadRequest
		q.fillSeats(p, ns)
		return p
	}
	seat := &v1alpha1.SeatAssignment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: seatNamePrefix(assignee)},
		Spec:       v1alpha1.SeatAssignmentSpec{PoolName: pool, Assignee: v1alpha1.Assignee{Kind: kind, Name: assignee}},
	}
	if err := q.v.Client.Create(q.ctx, seat); err != nil {
		q.changeFailed(p, err, changing("add seats", ns))
		q.fillSeats(p, ns)
		return p
	}
	return q.redirect(accountPath(ns, "seats")+backQuery(q), "seat-added", 1)
}

var notNameChars = regexp.MustCompile(`[^a-z0-9]+`)

// seatNamePrefix makes a readable object name from an assignee: "Alice.Smith@acme.example" →
// "alice-smith-acme-example-" (the API server adds a random suffix).
func seatNamePrefix(assignee string) string {
	n := strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(assignee), "-"), "-")
	if len(n) > 40 {
		n = strings.Trim(n[:40], "-")
	}
	if n == "" {
		n = "seat"
	}
	return n + "-"
}

// changeFailed puts the API server's refusal of a change on the page: a 403 as the role that
// allows it, a validation error with the API server's message (it names the field).
func (q *req) changeFailed(p *page, err error, what access.Refusal) {
	if q.refused(p, err, what) {
		return
	}
	status := http.StatusUnprocessableEntity
	switch {
	case apierrors.IsNotFound(err):
		status = http.StatusNotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		status = http.StatusConflict
	}
	switch {
	case apierrors.IsInvalid(err), apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err):
		p.Problems = append(p.Problems, q.T("error.refused", err.Error()))
		p.status = status
	default:
		q.problem(p, err)
	}
}

// backQuery keeps the filters of the page a form was sent from (its "back" field), parsed and
// encoded again so that only a query of this portal's pages comes back.
func backQuery(q *req) string {
	back := q.r.PostFormValue("back")
	if back == "" || back[0] != '?' {
		return ""
	}
	v, err := url.ParseQuery(back[1:])
	if err != nil || len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
