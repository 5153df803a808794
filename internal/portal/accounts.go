package portal

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/internal/report"
)

// account is a customer account (a namespace) on the accounts page.
type account struct {
	Name string
	// Pools is how many pools it has; -1 when only the right to list them is known.
	Pools int
}

type accountsData struct {
	Accounts []account
	// Box: the viewer may list neither pools everywhere nor namespaces, so they name one.
	Box       bool
	Default   string
	CanOrders bool
}

// maxProbedNamespaces bounds the access reviews of one accounts page.
const maxProbedNamespaces = 200

// accountsPage lists the namespaces in which the viewer can see pools: from a list of pools in
// all namespaces when allowed, else from the namespaces they may list and, for each, whether they
// may list its pools; else it asks for a namespace.
func (s *Server) accountsPage(q *req) *page {
	p := q.newPage("accounts", "accounts", "", q.T("accounts.title"))
	d := &accountsData{Default: s.defNS}
	p.Data = d
	var wg sync.WaitGroup
	wg.Go(func() { d.CanOrders = q.can("list", "customerorders", "") })
	defer wg.Wait()

	pools, err := report.Pools(q.ctx, q.v.Client, "")
	if err == nil {
		byNS := map[string]int{}
		for _, pl := range pools {
			byNS[pl.Namespace]++
		}
		for ns, n := range byNS {
			d.Accounts = append(d.Accounts, account{Name: ns, Pools: n})
		}
		slices.SortFunc(d.Accounts, func(a, b account) int { return cmp.Compare(a.Name, b.Name) })
		return p
	}
	if !apierrors.IsForbidden(err) {
		// Not a refusal to list everywhere (which the namespaces below answer): say what.
		q.readFailed(p, err, reading("licence pools", ""))
		d.Box = true
		return p
	}
	var nss corev1.NamespaceList
	if err := q.v.Client.List(q.ctx, &nss, client.Limit(maxProbedNamespaces)); err != nil {
		d.Box = true
		if !apierrors.IsForbidden(err) {
			q.problem(p, err)
		}
		return p
	}
	allowed := make([]bool, len(nss.Items))
	sem := make(chan struct{}, 8)
	var probe sync.WaitGroup
	for i, ns := range nss.Items {
		probe.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			allowed[i] = q.can("list", "licensepools", ns.Name)
		})
	}
	probe.Wait()
	for i, ns := range nss.Items {
		if allowed[i] {
			d.Accounts = append(d.Accounts, account{Name: ns.Name, Pools: -1})
		}
	}
	d.Box = len(d.Accounts) == 0
	return p
}

// openAccount is the namespace box: it goes to the account the viewer named, or says why not.
func (s *Server) openAccount(q *req) *page {
	ns := strings.TrimSpace(q.r.URL.Query().Get("ns"))
	if len(validation.IsDNS1123Label(ns)) > 0 {
		p := s.accountsPage(q)
		p.Problems = append(p.Problems, q.T("accounts.box.bad", ns))
		p.status = http.StatusBadRequest
		return p
	}
	http.Redirect(q.w, q.r, accountPath(ns, ""), http.StatusSeeOther)
	return nil
}
