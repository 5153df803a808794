package portal

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// orderView is one CustomerOrder on the orders page.
type orderView struct {
	Name, Customer, Phase, Message string
	StartsAt, ExpiresAt            time.Time
	Items                          []v1alpha1.OrderItem
	Pools                          []v1alpha1.OrderPool
	Cancelled                      bool
}

// Assignable: bought and not yet assigned to a customer.
func (o orderView) Assignable() bool { return o.Customer == "" && !o.Cancelled }

// Cancellable: a contract still in force or to come.
func (o orderView) Cancellable() bool {
	return !o.Cancelled && o.Phase != string(v1alpha1.OrderExpired)
}

func orderViewOf(o *v1alpha1.CustomerOrder) orderView {
	v := orderView{Name: o.Name, Customer: o.Spec.Customer, Phase: string(o.Status.Phase), Items: o.Spec.Items,
		Pools: o.Status.Pools, Cancelled: o.Spec.Cancelled}
	if o.Spec.StartsAt != nil {
		v.StartsAt = o.Spec.StartsAt.Time
	}
	if o.Spec.ExpiresAt != nil {
		v.ExpiresAt = o.Spec.ExpiresAt.Time
	}
	if c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionFulfilled); c != nil {
		v.Message = c.Message
	}
	return v
}

type ordersData struct {
	Orders []orderView
	// Customers are the accounts an order can be assigned to: the namespaces the viewer may
	// list, else those that have pools.
	Customers []string
	CanChange bool
	// Confirm is the order the viewer chose to cancel, for the confirmation step.
	Confirm *orderView
}

// ordersPage lists the orders, for partners: phase, term and items, with "Assign" for those not
// yet assigned and "Cancel" for those in force.
func (s *Server) ordersPage(q *req) *page {
	p := q.newPage("orders", "orders", "", q.T("orders.title"))
	q.fillOrders(p)
	return p
}

func (q *req) fillOrders(p *page) *ordersData {
	d := &ordersData{}
	p.Data = d
	canChange := make(chan bool, 1)
	go func() { canChange <- q.can("patch", "customerorders", "") }()
	defer func() { d.CanChange = <-canChange }()
	var orders v1alpha1.CustomerOrderList
	if err := q.v.Client.List(q.ctx, &orders); err != nil {
		q.readFailed(p, err, ordering("read orders"))
		return d
	}
	for i := range orders.Items {
		d.Orders = append(d.Orders, orderViewOf(&orders.Items[i]))
	}
	slices.SortFunc(d.Orders, func(a, b orderView) int { return cmp.Compare(a.Name, b.Name) })
	d.Customers = q.customers()
	return d
}

// customers lists the accounts an order may go to.
func (q *req) customers() []string {
	var names []string
	var nss corev1.NamespaceList
	if err := q.v.Client.List(q.ctx, &nss); err == nil {
		for _, ns := range nss.Items {
			if !strings.HasPrefix(ns.Name, "kube-") {
				names = append(names, ns.Name)
			}
		}
		return names
	}
	if pools, err := report.Pools(q.ctx, q.v.Client, ""); err == nil {
		for _, pl := range pools {
			names = append(names, pl.Namespace)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// assignOrder assigns an unassigned order to a customer account (spec.customer, which the CRD
// keeps immutable once set).
func (s *Server) assignOrder(q *req) *page {
	name := q.r.PathValue("order")
	p := q.newPage("orders", "orders", "", q.T("orders.title"))
	customer := strings.TrimSpace(q.r.PostFormValue("customer"))
	if len(validation.IsDNS1123Label(customer)) > 0 {
		p.Problems = append(p.Problems, q.T("orders.assign.bad", customer))
		p.status = http.StatusBadRequest
		q.fillOrders(p)
		return p
	}
	order := &v1alpha1.CustomerOrder{}
	order.Name = name
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"customer":%q}}`, customer))
	if err := q.v.Client.Patch(q.ctx, order, patch); err != nil {
		q.changeFailed(p, err, ordering("assign orders"))
		q.fillOrders(p)
		return p
	}
	return q.redirect("/orders", "assigned", 1)
}

// cancelOrder cancels an order after a confirmation: its capacity is removed at once.
func (s *Server) cancelOrder(q *req) *page {
	name := q.r.PathValue("order")
	p := q.newPage("orders", "orders", "", q.T("orders.title"))
	if q.r.PostFormValue("confirm") != "yes" {
		d := q.fillOrders(p)
		for i := range d.Orders {
			if d.Orders[i].Name == name {
				d.Confirm = &d.Orders[i]
			}
		}
		if d.Confirm == nil {
			p.Problems = append(p.Problems, q.T("orders.notfound", name))
			p.status = http.StatusNotFound
			return p
		}
		p.template, p.Live = "confirm-cancel", ""
		return p
	}
	order := &v1alpha1.CustomerOrder{}
	order.Name = name
	if err := q.v.Client.Patch(q.ctx, order, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancelled":true}}`))); err != nil {
		q.changeFailed(p, err, ordering("cancel orders"))
		q.fillOrders(p)
		return p
	}
	return q.redirect("/orders", "cancelled", 1)
}
