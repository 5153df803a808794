package portal

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// poolView is what the pages show of a pool.
type poolView struct {
	Name, Product, DisplayName string
	Expires                    time.Time
	ExpiringSoon, Expired      bool
	SeatsBound, SeatsPending   int32
	SeatsLimit                 *int32
	Active, Idle, Waiting      int32
	SessionsLimit              *int32
	// ManagedBy is the system that decides grants, when it is not seatkeeper.
	ManagedBy string
	Message   string
}

// Connected is the Active sessions whose holder is connected to someone.
func (v poolView) Connected() int32 { return v.Active - v.Idle }

// SeatFree tells whether a seat can be bound now.
func (v poolView) SeatFree() bool { return v.SeatsLimit == nil || v.SeatsBound < *v.SeatsLimit }

func poolViewOf(p *v1alpha1.LicensePool) poolView {
	v := poolView{
		Name: p.Name, Product: p.Spec.Product, DisplayName: p.Spec.DisplayName,
		SeatsBound: p.Status.Seats.Bound, SeatsPending: p.Status.Seats.Pending, SeatsLimit: p.Status.Seats.Limit,
		Active: p.Status.Sessions.Active, Idle: p.Status.Sessions.Idle, Waiting: p.Status.Sessions.Waiting,
		SessionsLimit: p.Status.Sessions.Limit,
	}
	if p.Status.ObservedGeneration == 0 {
		// Not counted yet: an absent limit does not mean unlimited.
		v.SeatsLimit, v.SessionsLimit = p.Spec.Seats, p.Spec.ConcurrentSessions
	}
	if p.Spec.ManagedBy != "" && p.Spec.ManagedBy != v1alpha1.ControllerName {
		v.ManagedBy = p.Spec.ManagedBy
	}
	if p.Spec.ExpiresAt != nil {
		v.Expires = p.Spec.ExpiresAt.Time
	}
	v.ExpiringSoon = meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionExpiringSoon)
	v.Expired = meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionExpired)
	if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		v.Message = c.Message
	}
	return v
}

type poolsData struct {
	Pools []poolView
}

// poolsPage is a customer account: its pools at a glance.
func (s *Server) poolsPage(q *req) *page {
	ns := q.r.PathValue("ns")
	p := q.newPage("pools", "licences", ns, q.T("pools.title", ns))
	d := &poolsData{}
	p.Data = d
	pools, err := report.Pools(q.ctx, q.v.Client, ns)
	if err != nil {
		q.readFailed(p, err, reading("licence pools", ns))
		return p
	}
	for i := range pools {
		d.Pools = append(d.Pools, poolViewOf(&pools[i]))
	}
	slices.SortFunc(d.Pools, func(a, b poolView) int { return cmp.Compare(a.Name, b.Name) })
	return p
}

// licenceOrder is an order that adds capacity to the pool, with its term.
type licenceOrder struct {
	Name                string
	Seats, Sessions     int32
	StartsAt, ExpiresAt time.Time
}

type licenceData struct {
	Pool poolView
	// Devices is the Bound seats of unattended machines and registered clients.
	Devices int
	Rules   v1alpha1.SessionPolicy
	// DefaultHeartbeat and DefaultRetain are the API's defaults, for a policy that leaves them out.
	DefaultHeartbeat, DefaultRetain time.Duration
	Orders                          []licenceOrder
	Chart                           template.HTML
	Summary                         string
	Usage                           usageChart
	// Window is the span the chart shows, one of Windows: the last hour, the last 8 hours, or the
	// whole record (the retention window).
	Window  time.Duration
	Windows []time.Duration
}

// licencePage is one pool: the licence, its limits and rules, the orders that add to it, and the
// chart of licences in use over the retention window.
func (s *Server) licencePage(q *req) *page {
	ns, name := q.r.PathValue("ns"), q.r.PathValue("pool")
	p := q.newPage("licence", "licences", ns, name)
	pool := &v1alpha1.LicensePool{}
	if err := q.v.Client.Get(q.ctx, client.ObjectKey{Namespace: ns, Name: name}, pool); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			p.Problems = append(p.Problems, q.T("licence.notfound", name, ns))
			p.status = http.StatusNotFound
		case !q.refused(p, err, reading("licence pools", ns)):
			q.problem(p, err)
		}
		return p
	}
	d := &licenceData{Pool: poolViewOf(pool), Rules: pool.Spec.SessionPolicy,
		DefaultHeartbeat: allocator.DefaultPolicy.HeartbeatTimeout, DefaultRetain: allocator.DefaultPolicy.RetainEnded}
	p.Data = d
	if pool.Spec.DisplayName != "" {
		p.Title = pool.Spec.DisplayName
	}

	if seats, err := report.Seats(q.ctx, q.v.Client, ns, name, ""); err == nil {
		for _, st := range seats {
			if st.Spec.PoolName == name && st.Status.Phase == v1alpha1.SeatBound && st.Spec.Assignee.Kind == v1alpha1.AssigneeDevice {
				d.Devices++
			}
		}
	} else {
		q.readFailed(p, err, reading("seats", ns))
	}

	readOrders := true
	for _, o := range pool.Status.Orders {
		lo := licenceOrder{Name: o.Name, Seats: o.Seats, Sessions: o.ConcurrentSessions}
		if o.ExpiresAt != nil {
			lo.ExpiresAt = o.ExpiresAt.Time
		}
		// The start of the term is on the order, which only partners may read: without it the
		// page shows the end alone (and asks no more after the first refusal).
		var order v1alpha1.CustomerOrder
		if readOrders {
			err := q.v.Client.Get(q.ctx, client.ObjectKey{Name: o.Name}, &order)
			readOrders = !apierrors.IsForbidden(err)
			if err == nil && order.Spec.StartsAt != nil {
				lo.StartsAt = order.Spec.StartsAt.Time
			}
		}
		d.Orders = append(d.Orders, lo)
	}

	sessions, err := report.Sessions(q.ctx, q.v.Client, ns, name, "")
	if err != nil {
		q.readFailed(p, err, reading("sessions", ns))
		return p
	}
	retain := allocator.DefaultPolicy.RetainEnded
	if r := pool.Spec.SessionPolicy.RetainEnded; r != nil && r.Duration > 0 {
		retain = r.Duration
	}
	d.Windows, d.Window = chartWindows(retain, q.r.URL.Query().Get("window"))
	d.Usage = usageOverTime(sessions, name, pool.Spec.SessionPolicy.CountBy, pool.Status.Sessions.Limit, q.now.Add(-d.Window), q.now)
	d.Chart, d.Summary = d.Usage.svg(q), d.Usage.summary(q)
	return p
}
