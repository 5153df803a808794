package main

import (
	"context"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// pageSize is how many objects one list request asks for, as kubectl's --chunk-size: a long
// session log then comes in pages instead of one large response.
const pageSize = 500

// listAll lists every object of one kind in the scope, page by page, selecting on the server by
// the fields in match (the kinds' selectable fields). A server that does not know them as
// selectable (Kubernetes before 1.31) answers BadRequest; then the whole scope is listed, and the
// caller, which filters again on its side anyway, does the selection.
func listAll[T any, L any, PL interface {
	*L
	client.ObjectList
}](ctx context.Context, c client.Client, sc scope, match client.MatchingFields, items func(*L) []T) ([]T, error) {
	opts := []client.ListOption{client.Limit(pageSize)}
	if !sc.all {
		opts = append(opts, client.InNamespace(sc.namespace))
	}
	if len(match) > 0 {
		opts = append(opts, match)
	}
	var all []T
	next := ""
	for {
		page := PL(new(L))
		err := c.List(ctx, page, append(opts, client.Continue(next))...)
		if err != nil {
			if len(match) > 0 && fieldSelectorUnsupported(err) {
				return listAll[T, L, PL](ctx, c, sc, nil, items)
			}
			return nil, err
		}
		all = append(all, items(page)...)
		if next = page.GetContinue(); next == "" {
			return all, nil
		}
	}
}

// fieldSelectorUnsupported tells whether err is the API server refusing a field selector it
// does not know ("field label not supported: spec.poolName").
func fieldSelectorUnsupported(err error) bool {
	return apierrors.IsBadRequest(err) && strings.Contains(err.Error(), "field label not supported")
}

// fieldsOf returns the non-empty field selectors among key, value pairs.
func fieldsOf(pairs ...string) client.MatchingFields {
	m := client.MatchingFields{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			m[pairs[i]] = pairs[i+1]
		}
	}
	return m
}

func listPools(ctx context.Context, c client.Client, sc scope) ([]v1alpha1.LicensePool, error) {
	return listAll(ctx, c, sc, nil, func(l *v1alpha1.LicensePoolList) []v1alpha1.LicensePool { return l.Items })
}

func listSeats(ctx context.Context, c client.Client, sc scope, pool, assignee string) ([]v1alpha1.SeatAssignment, error) {
	match := fieldsOf("spec.poolName", pool, "spec.assignee.name", assignee)
	return listAll(ctx, c, sc, match, func(l *v1alpha1.SeatAssignmentList) []v1alpha1.SeatAssignment { return l.Items })
}

func listSessions(ctx context.Context, c client.Client, sc scope, pool, holder string) ([]v1alpha1.SharedSession, error) {
	match := fieldsOf("spec.poolName", pool, "spec.holder", holder)
	return listAll(ctx, c, sc, match, func(l *v1alpha1.SharedSessionList) []v1alpha1.SharedSession { return l.Items })
}
