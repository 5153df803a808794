// Package metrics defines seatkeeper's Prometheus metrics and registers them with the
// controller-runtime registry, which the manager serves on its metrics endpoint. Labels are
// limited to namespace, pool and reason, so their number grows with pools, not sessions.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var poolLabels = []string{"namespace", "pool"}

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
		Help: "Requests refused: seats without a free seat (LicensesNotAvailable), sessions turned away (Rejected) or not entitled (NotEntitled).",
	}, append(poolLabels, "reason"))
	RefusedWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seatkeeper_refused_writes_total",
		Help: "Writes the API server refused for a reason retrying cannot fix (too large, invalid, forbidden); the pool's Ready condition says which.",
	}, poolLabels)
)

func gauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, poolLabels)
}

var poolGauges = []*prometheus.GaugeVec{SeatsLimit, SeatsBound, SeatsPending, SessionsLimit, SessionsActive, SessionsIdle, SessionsWaiting, WaitingLicences, ExpiryTimestamp}

func init() {
	ctrlmetrics.Registry.MustRegister(WaitSeconds, Ends, Denials, RefusedWrites)
	for _, g := range poolGauges {
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
}

// SetPool sets the pool's gauges; limits and expiry that do not apply are removed.
func SetPool(namespace, pool string, u PoolUsage) {
	setOrDelete(SeatsLimit, namespace, pool, u.SeatsLimit)
	setOrDelete(SessionsLimit, namespace, pool, u.SessionsLimit)
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
}

// WriteRefused counts a write of the pool's that the API server refused for good.
func WriteRefused(namespace, pool string) {
	RefusedWrites.WithLabelValues(namespace, pool).Inc()
}

// ForgetPool removes a deleted pool's gauges.
func ForgetPool(namespace, pool string) {
	for _, g := range poolGauges {
		g.DeleteLabelValues(namespace, pool)
	}
	RefusedWrites.DeleteLabelValues(namespace, pool)
}

func setOrDelete(g *prometheus.GaugeVec, namespace, pool string, v *int32) {
	if v == nil {
		g.DeleteLabelValues(namespace, pool)
		return
	}
	g.WithLabelValues(namespace, pool).Set(float64(*v))
}
