package main

import (
	"context"

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

func listSeats(ctx context.Context, c client.Client, sc scope, pool, assignee string) ([]v1alpha1.SeatAssignment, error) {
	return report.Seats(ctx, c, namespaceOf(sc), pool, assignee)
}

func listSessions(ctx context.Context, c client.Client, sc scope, pool, holder string) ([]v1alpha1.SharedSession, error) {
	return report.Sessions(ctx, c, namespaceOf(sc), pool, holder)
}
