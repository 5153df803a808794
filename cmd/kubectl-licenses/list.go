package main

import (
	"cmp"
	"context"
	"slices"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// The listings read through internal/report, page by page with server-side field selection, as
// the portal does.

// namespaceOf is the namespace to list in: "" for all of them.
func namespaceOf(sc scope) string {
	if sc.all {
		return ""
	}
	return sc.namespace
}

func listPools(ctx context.Context, c client.Client, sc scope) ([]v1alpha1.LicensePool, error) {
	return report.Pools(ctx, c, namespaceOf(sc))
}

// sortedPools checks a listing's flags and reads the pools it covers, by namespace and name.
func (a *app) sortedPools(cmd *cobra.Command, lf listFlags) ([]v1alpha1.LicensePool, scope, error) {
	if err := lf.validate(); err != nil {
		return nil, scope{}, err
	}
	c, sc, err := a.connect(lf.allNamespaces)
	if err != nil {
		return nil, scope{}, err
	}
	pools, err := listPools(cmd.Context(), c, sc)
	if err != nil {
		return nil, sc, action{what: "read licence pools", role: roleReports, scope: sc}.explain(err)
	}
	slices.SortFunc(pools, func(x, y v1alpha1.LicensePool) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	return pools, sc, nil
}

func listSeats(ctx context.Context, c client.Client, sc scope, pool, assignee string) ([]v1alpha1.SeatAssignment, error) {
	return report.Seats(ctx, c, namespaceOf(sc), pool, assignee)
}

func listSessions(ctx context.Context, c client.Client, sc scope, pool, holder string) ([]v1alpha1.SharedSession, error) {
	return report.Sessions(ctx, c, namespaceOf(sc), pool, holder)
}
