package report

import (
	"cmp"
	"context"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// PageSize is how many objects one list request asks for, as kubectl's --chunk-size: a long
// session log then comes in pages instead of one large response.
const PageSize = 500

// List lists every object of one kind in namespace ns ("" for all namespaces), page by page,
// selecting on the server by the fields in match (the kinds' selectable fields). A server that
// does not know them as selectable (Kubernetes before 1.31) answers BadRequest; then the whole
// scope is listed, and the caller, which filters again on its side anyway, does the selection.
func List[T any, L any, PL interface {
	*L
	client.ObjectList
}](ctx context.Context, c client.Reader, ns string, match client.MatchingFields, items func(*L) []T) ([]T, error) {
	opts := []client.ListOption{client.Limit(PageSize)}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
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
				return List[T, L, PL](ctx, c, ns, nil, items)
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

// Fields returns the non-empty field selectors among key, value pairs.
func Fields(pairs ...string) client.MatchingFields {
	m := client.MatchingFields{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			m[pairs[i]] = pairs[i+1]
		}
	}
	return m
}

// Sessions lists the sessions of namespace ns ("" for all), of one pool and holder when given.
func Sessions(ctx context.Context, c client.Reader, ns, pool, holder string) ([]v1alpha1.SharedSession, error) {
	match := Fields("spec.poolName", pool, "spec.holder", holder)
	return List(ctx, c, ns, match, func(l *v1alpha1.SharedSessionList) []v1alpha1.SharedSession { return l.Items })
}

// Seats lists the seats of namespace ns ("" for all), of one pool and assignee when given.
func Seats(ctx context.Context, c client.Reader, ns, pool, assignee string) ([]v1alpha1.SeatAssignment, error) {
	match := Fields("spec.poolName", pool, "spec.assignee.name", assignee)
	return List(ctx, c, ns, match, func(l *v1alpha1.SeatAssignmentList) []v1alpha1.SeatAssignment { return l.Items })
}

// Pools lists the pools of namespace ns ("" for all).
func Pools(ctx context.Context, c client.Reader, ns string) ([]v1alpha1.LicensePool, error) {
	return List(ctx, c, ns, nil, func(l *v1alpha1.LicensePoolList) []v1alpha1.LicensePool { return l.Items })
}

// SortSessions orders sessions as the session log lists them: by namespace and pool, then
// oldest first, then by name.
func SortSessions(items []v1alpha1.SharedSession) {
	slices.SortFunc(items, func(x, y v1alpha1.SharedSession) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Spec.PoolName, y.Spec.PoolName),
			x.CreationTimestamp.Compare(y.CreationTimestamp.Time), cmp.Compare(x.Name, y.Name))
	})
}
