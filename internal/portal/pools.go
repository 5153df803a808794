package portal

import (
	"cmp"
	"html/template"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/access"
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
	Ready     bool
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
		v.Ready, v.Message = c.Status == metav1.ConditionTrue, c.Message
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
	var pools v1alpha1.LicensePoolList
	if err := q.v.Client.List(q.ctx, &pools, client.InNamespace(ns)); err != nil {
		if !q.refused(p, err, access.Refusal{What: "read licence pools", Role: access.RoleReports, Namespace: ns}) {
			q.problem(p, err)
		}
		return p
	}
	for i := range pools.Items {
		d.Pools = append(d.Pools, poolViewOf(&pools.Items[i]))
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
	// Devices and Users are the Bound seats of each kind.
	Devices, Users int
	Rules          v1alpha1.SessionPolicy
	Orders         []licenceOrder
	Chart          template.HTML
	Summary        string
	Usage          usageChart
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
			p.status = 404
		case !q.refused(p, err, access.Refusal{What: "read licence pools", Role: access.RoleReports, Namespace: ns}):
			q.problem(p, err)
		}
		return p
	}
	d := &licenceData{Pool: poolViewOf(pool), Rules: pool.Spec.SessionPolicy}
	p.Data = d
	if pool.Spec.DisplayName != "" {
		p.Title = pool.Spec.DisplayName
	}

	var seats v1alpha1.SeatAssignmentList
	if err := listMatching(q, &seats, ns, "spec.poolName", name); err == nil {
		for _, st := range seats.Items {
			if st.Spec.PoolName != name || st.Status.Phase != v1alpha1.SeatBound {
				continue
			}
			if st.Spec.Assignee.Kind == v1alpha1.AssigneeDevice {
				d.Devices++
			} else {
				d.Users++
			}
		}
	} else if !q.refused(p, err, access.Refusal{What: "read seats", Role: access.RoleReports, Namespace: ns}) {
		q.problem(p, err)
	}

	for _, o := range pool.Status.Orders {
		lo := licenceOrder{Name: o.Name, Seats: o.Seats, Sessions: o.ConcurrentSessions}
		if o.ExpiresAt != nil {
			lo.ExpiresAt = o.ExpiresAt.Time
		}
		// The start of the term is on the order, which only partners may read: without it the
		// page shows the end alone.
		var order v1alpha1.CustomerOrder
		if err := q.v.Client.Get(q.ctx, client.ObjectKey{Name: o.Name}, &order); err == nil && order.Spec.StartsAt != nil {
			lo.StartsAt = order.Spec.StartsAt.Time
		}
		d.Orders = append(d.Orders, lo)
	}

	var sessions v1alpha1.SharedSessionList
	if err := listMatching(q, &sessions, ns, "spec.poolName", name); err != nil {
		if !q.refused(p, err, access.Refusal{What: "read sessions", Role: access.RoleReports, Namespace: ns}) {
			q.problem(p, err)
		}
		return p
	}
	retain := 24 * time.Hour
	if r := pool.Spec.SessionPolicy.RetainEnded; r != nil && r.Duration > 0 {
		retain = r.Duration
	}
	d.Usage = usageOverTime(sessions.Items, name, pool.Spec.SessionPolicy.CountBy, pool.Status.Sessions.Limit, q.now.Add(-retain), q.now)
	d.Chart, d.Summary = d.Usage.svg(q), d.Usage.summary(q)
	return p
}

// listMatching lists a kind in ns selected on the server by one selectable field; a server that
// does not know the field as selectable gets the whole namespace (callers filter again).
func listMatching(q *req, list client.ObjectList, ns, field, value string) error {
	opts := []client.ListOption{client.InNamespace(ns)}
	if value != "" {
		opts = append(opts, client.MatchingFields{field: value})
	}
	err := q.v.Client.List(q.ctx, list, opts...)
	if err != nil && value != "" && apierrors.IsBadRequest(err) {
		return q.v.Client.List(q.ctx, list, client.InNamespace(ns))
	}
	return err
}
