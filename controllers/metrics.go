package controllers

import (
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	"github.com/seatkeeper/seatkeeper/internal/metrics"
)

// poolGauges sets the pool's gauges from the allocator's counts.
func poolGauges(namespace, name string, pool *v1alpha1.LicensePool, res allocator.Result) {
	if pool == nil {
		metrics.ForgetPool(namespace, name)
		return
	}
	u := res.Usage
	var expires *float64
	if pool.Spec.ExpiresAt != nil {
		t := float64(pool.Spec.ExpiresAt.Unix())
		expires = &t
	}
	metrics.SetPool(namespace, name, metrics.PoolUsage{
		SeatsLimit: u.SeatLimit, SeatsBound: u.SeatsBound, SeatsPending: u.SeatsPending,
		SessionsLimit: u.SessionLimit, SessionsActive: u.SessionsActive, SessionsIdle: u.SessionsIdle,
		Waiting: u.Waiting, WaitingLicences: u.WaitingLicences, ExpiresAt: expires,
		SessionsOverdraft: u.SessionsOverdraft, OverdraftAllowed: u.Overdraft, SessionsReserved: u.Reserved,
		Groups: groupGauges(u.Groups),
	})
}

// groupGauges are the gauges of the pool's groups, from the allocator's counts.
func groupGauges(groups []allocator.GroupUsage) []metrics.GroupUsage {
	out := make([]metrics.GroupUsage, len(groups))
	for i, g := range groups {
		out[i] = metrics.GroupUsage{Name: g.Name, SessionsActive: g.SessionsActive, SessionsWaiting: g.SessionsWaiting,
			SessionsReserved: g.Reserved, SessionsLimit: g.MaxSessions, SeatsBound: g.SeatsBound, SeatsLimit: g.MaxSeats}
	}
	return out
}

// countTransitions counts the transitions of writes that landed: the Events a pass records
// and the counters count the same transitions.
func countTransitions(notes []note) {
	for _, n := range notes {
		countTransition(n)
	}
}

func countTransition(n note) {
	var namespace, pool string
	switch o := n.obj.(type) {
	case *v1alpha1.SeatAssignment:
		namespace, pool = o.Namespace, o.Spec.PoolName
	case *v1alpha1.SharedSession:
		namespace, pool = o.Namespace, o.Spec.PoolName
		switch n.transition {
		case allocator.SessionEnded:
			metrics.Ends.WithLabelValues(namespace, pool, n.reason).Inc()
		case allocator.SessionGranted:
			if g := o.Status.GrantedAt; g != nil {
				metrics.WaitSeconds.WithLabelValues(namespace, pool).Observe(g.Sub(o.CreationTimestamp.Time).Seconds())
			}
		}
	default:
		return
	}
	switch n.reason {
	case string(v1alpha1.SeatReasonLicensesNotAvailable), string(v1alpha1.SeatReasonGroupLimitReached), string(v1alpha1.EndRejected), string(v1alpha1.EndNotEntitled):
		metrics.Denials.WithLabelValues(namespace, pool, n.reason).Inc()
	}
}
