// Package metrics defines seatkeeper's Prometheus metrics and registers them with the
// controller-runtime registry, which the manager serves on its metrics endpoint. Labels are
// limited to namespace, pool, reason and group (a pool names at most 32 groups), so their
// number grows with pools, not sessions.
package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	poolLabels  = []string{"namespace", "pool"}
	groupLabels = []string{"namespace", "pool", "group"}
)

var (
	SeatsLimit      = gauge("seatkeeper_pool_seats_limit", "Effective seat limit of the pool (spec plus orders); absent when unlimited.")
	SeatsBound      = gauge("seatkeeper_pool_seats_bound", "Seat assignments holding a seat.")
	SeatsPending    = gauge("seatkeeper_pool_seats_pending", "Enabled seat assignments waiting for a seat.")
	SessionsLimit   = gauge("seatkeeper_pool_sessions_limit", "Effective shared-licence limit of the pool; absent when unlimited.")
	SessionsActive  = gauge("seatkeeper_pool_sessions_active", "Shared licences in use: each Active session's count, or with countBy Holder each holder's largest count.")
	SessionsIdle    = gauge("seatkeeper_pool_sessions_idle", "Shared licences of Active sessions in state Idle.")
	SessionsWaiting = gauge("seatkeeper_pool_sessions_waiting", "Sessions waiting in the pool's queue.")
	WaitingLicences = gauge("seatkeeper_pool_sessions_waiting_licences", "Shared licences the sessions in the pool's queue ask for.")
	ExpiryTimestamp = gauge("seatkeeper_pool_expiry_timestamp_seconds", "When the pool's licence expires, as a Unix time; absent when it does not.")

	SessionsOverdraft = gauge("seatkeeper_pool_sessions_overdraft", "Shared licences in use beyond the pool's limit (spec.overdraftSessions).")
	OverdraftAllowed  = gauge("seatkeeper_pool_sessions_overdraft_allowed", "Shared licences the pool may grant beyond its limit (spec.overdraftSessions); 0 when none.")
	SessionsReserved  = gauge("seatkeeper_pool_sessions_reserved", "Shared licences the pool's groups reserve for their members.")

	GroupSessionsActive   = groupGauge("seatkeeper_pool_group_sessions_active", "Shared licences the group's members use.")
	GroupSessionsWaiting  = groupGauge("seatkeeper_pool_group_sessions_waiting", "Sessions of the group's members waiting in the pool's queue.")
	GroupSessionsReserved = groupGauge("seatkeeper_pool_group_sessions_reserved", "Shared licences reserved for the group's members.")
	GroupSessionsLimit    = groupGauge("seatkeeper_pool_group_sessions_limit", "The group's cap on shared licences (maxSessions); absent when it has none.")
	GroupSeatsBound       = groupGauge("seatkeeper_pool_group_seats_bound", "Seats the group's members hold.")
	GroupSeatsLimit       = groupGauge("seatkeeper_pool_group_seats_limit", "The group's cap on seats (maxSeats); absent when it has none.")

	WaitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "seatkeeper_session_wait_seconds",
		Help:    "Time from a session's creation to its grant.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	}, poolLabels)
	Ends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatkeeper_session_ends_total",
		Help: "Sessions ended, by endReason.",
	}, append(poolLabels, "reason"))
	Denials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatkeeper_denials_total",
		Help: "Requests refused: seats without a free seat (LicensesNotAvailable) or held at their group's maxSeats (GroupLimitReached), sessions turned away (Rejected) or not entitled (NotEntitled).",
	}, append(poolLabels, "reason"))
	PromisedGrants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatkeeper_promised_grants_total",
		Help: "Sessions granted on the ledger's promise, as soon as a licence freed and before the ledger recorded the grant (see status.ledger.promises).",
	}, poolLabels)
	RefusedWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatkeeper_refused_writes_total",
		Help: "Writes the API server refused for a reason retrying cannot fix (too large, invalid, forbidden); the pool's Ready condition says which.",
	}, poolLabels)
)

func gauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, poolLabels)
}

func groupGauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, groupLabels)
}

var (
	poolGauges = []*prometheus.GaugeVec{SeatsLimit, SeatsBound, SeatsPending, SessionsLimit, SessionsActive, SessionsIdle,
		SessionsWaiting, WaitingLicences, ExpiryTimestamp, SessionsOverdraft, OverdraftAllowed, SessionsReserved}
	groupGauges = []*prometheus.GaugeVec{GroupSessionsActive, GroupSessionsWaiting, GroupSessionsReserved, GroupSessionsLimit,
		GroupSeatsBound, GroupSeatsLimit}
)

func init() {
	ctrlmetrics.Registry.MustRegister(WaitSeconds, Ends, Denials, PromisedGrants, RefusedWrites)
	for _, g := range append(poolGauges, groupGauges...) {
		ctrlmetrics.Registry.MustRegister(g)
	}
}

// PoolUsage is what the pool gauges report.
type PoolUsage struct {
	SeatsLimit, SessionsLimit             *int32
	SeatsBound, SeatsPending              int32
	SessionsActive, SessionsIdle, Waiting int32
	WaitingLicences                       int32
	ExpiresAt                             *float64
	// SessionsOverdraft are the licences in use beyond the limit, OverdraftAllowed how many
	// the pool allows beyond it, SessionsReserved those its groups reserve.
	SessionsOverdraft, OverdraftAllowed, SessionsReserved int32
	// Groups are the pool's groups: a group's series go when it is no longer listed.
	Groups []GroupUsage
}

// GroupUsage is what the gauges of one of a pool's groups report; a cap that is nil is none.
type GroupUsage struct {
	Name                                              string
	SessionsActive, SessionsWaiting, SessionsReserved int32
	SessionsLimit                                     *int32
	SeatsBound                                        int32
	SeatsLimit                                        *int32
}

// groupsSet remembers the groups each pool's series were last set for, so that those of a
// group the pool no longer names can be removed.
var groupsSet = struct {
	sync.Mutex
	byPool map[[2]string][]string
}{byPool: map[[2]string][]string{}}

// SetPool sets the pool's gauges; limits and expiry that do not apply are removed.
func SetPool(namespace, pool string, u PoolUsage) {
	setOrDelete(SeatsLimit, u.SeatsLimit, namespace, pool)
	setOrDelete(SessionsLimit, u.SessionsLimit, namespace, pool)
	SeatsBound.WithLabelValues(namespace, pool).Set(float64(u.SeatsBound))
	SeatsPending.WithLabelValues(namespace, pool).Set(float64(u.SeatsPending))
	SessionsActive.WithLabelValues(namespace, pool).Set(float64(u.SessionsActive))
	SessionsIdle.WithLabelValues(namespace, pool).Set(float64(u.SessionsIdle))
	SessionsWaiting.WithLabelValues(namespace, pool).Set(float64(u.Waiting))
	WaitingLicences.WithLabelValues(namespace, pool).Set(float64(u.WaitingLicences))
	// Present at 0 from the start, so that increase() sees the first refusal.
	RefusedWrites.WithLabelValues(namespace, pool).Add(0)
	if u.ExpiresAt != nil {
		ExpiryTimestamp.WithLabelValues(namespace, pool).Set(*u.ExpiresAt)
	} else {
		ExpiryTimestamp.DeleteLabelValues(namespace, pool)
	}
	SessionsOverdraft.WithLabelValues(namespace, pool).Set(float64(u.SessionsOverdraft))
	OverdraftAllowed.WithLabelValues(namespace, pool).Set(float64(u.OverdraftAllowed))
	SessionsReserved.WithLabelValues(namespace, pool).Set(float64(u.SessionsReserved))
	setGroups(namespace, pool, u.Groups)
}

// setGroups sets the gauges of the pool's groups, and removes those of groups it no longer
// names. The pool's passes run one at a time, but passes of different pools do not: the
// memory of groups is shared.
func setGroups(namespace, pool string, groups []GroupUsage) {
	groupsSet.Lock()
	defer groupsSet.Unlock()
	key := [2]string{namespace, pool}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
		GroupSessionsActive.WithLabelValues(namespace, pool, g.Name).Set(float64(g.SessionsActive))
		GroupSessionsWaiting.WithLabelValues(namespace, pool, g.Name).Set(float64(g.SessionsWaiting))
		GroupSessionsReserved.WithLabelValues(namespace, pool, g.Name).Set(float64(g.SessionsReserved))
		setOrDelete(GroupSessionsLimit, g.SessionsLimit, namespace, pool, g.Name)
		GroupSeatsBound.WithLabelValues(namespace, pool, g.Name).Set(float64(g.SeatsBound))
		setOrDelete(GroupSeatsLimit, g.SeatsLimit, namespace, pool, g.Name)
	}
	for _, old := range groupsSet.byPool[key] {
		if !slices.Contains(names, old) {
			for _, g := range groupGauges {
				g.DeleteLabelValues(namespace, pool, old)
			}
		}
	}
	if len(names) == 0 {
		delete(groupsSet.byPool, key)
	} else {
		groupsSet.byPool[key] = names
	}
}

// WriteRefused counts a write of the pool's that the API server refused for good.
func WriteRefused(namespace, pool string) {
	RefusedWrites.WithLabelValues(namespace, pool).Inc()
}

// ForgetPool removes a deleted pool's gauges, its groups' among them.
func ForgetPool(namespace, pool string) {
	for _, g := range poolGauges {
		g.DeleteLabelValues(namespace, pool)
	}
	RefusedWrites.DeleteLabelValues(namespace, pool)
	setGroups(namespace, pool, nil)
}

// setOrDelete sets the series of the labels to v, or removes it when v is nil.
func setOrDelete(g *prometheus.GaugeVec, v *int32, labels ...string) {
	if v == nil {
		g.DeleteLabelValues(labels...)
		return
	}
	g.WithLabelValues(labels...).Set(float64(*v))
}
