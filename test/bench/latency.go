package main

import (
	"context"
	"fmt"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// latencyResult is create → Granted for sessions that find a free licence.
type latencyResult struct {
	Grant summary `json:"grant"`
	// The grant split at the operator's decision (status.grantedAt): create → decision (the
	// create, the watch to the operator, the reconcile up to the allocator) and decision →
	// seen Granted (the ledger and session writes, the watch to the benchmark).
	ToDecision   summary `json:"toDecision"`
	FromDecision summary `json:"fromDecision"`
	// RatioP50 and RatioP99 compare with the baseline's create+status-update round trip.
	RatioP50 float64 `json:"ratioP50"`
	RatioP99 float64 `json:"ratioP99"`
	// What the operator did per grant: reconciles, their mean duration, and direct reads.
	ReconcilesPerGrant float64 `json:"reconcilesPerGrant"`
	MeanReconcileMs    float64 `json:"meanReconcileMs"`
	ReadsPerGrant      float64 `json:"readsPerGrant"`
}

const latencyNS = "bench-latency"

// settle is how long the operator must have been idle before a timed request, so that the
// reconciles its own previous writes cause (its cache hears of them) are over.
const settle = 100 * time.Millisecond

// grantLatency creates sessions one at a time in a pool with room for all of them, each once
// the operator is idle, and times each from just before its create to the moment a watch
// shows it Granted.
func (b *bench) grantLatency(ctx context.Context, base baselineResult) (latencyResult, error) {
	n := b.cfg.sizes.LatencySamples
	var res latencyResult
	if err := createNamespace(ctx, b.load, latencyNS); err != nil {
		return res, err
	}
	defer b.cleanup(latencyNS)
	obs, err := observeSessions(ctx, b.load, latencyNS, false)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(latencyNS, "free", limit(n+10), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	samples := make([]time.Duration, 0, n)
	var toDecision, fromDecision []time.Duration
	var before usage
	for i := -5; i < n; i++ { // five to warm up
		if err := b.op.waitIdle(ctx, settle); err != nil {
			return res, err
		}
		if i == 0 {
			if before, err = b.op.usage(ctx); err != nil {
				return res, err
			}
		}
		s := session(latencyNS, "free", i+5)
		start := time.Now()
		if err := b.load.Create(ctx, s); err != nil {
			return res, fmt.Errorf("create %s: %w", s.Name, err)
		}
		granted, err := obs.wait(ctx, s.Name, v1alpha1.SessionActive)
		if err != nil {
			return res, err
		}
		if i >= 0 {
			samples = append(samples, granted.Sub(start))
			if decided := obs.decidedAt(s.Name); !decided.IsZero() {
				toDecision, fromDecision = append(toDecision, decided.Sub(start)), append(fromDecision, granted.Sub(decided))
			}
		}
	}
	d, err := b.op.usedSince(ctx, before)
	if err != nil {
		return res, err
	}
	res.ReconcilesPerGrant, res.ReadsPerGrant = d.Reconciles/float64(n), d.Reads/float64(n)
	res.MeanReconcileMs = 1000 * ratio(d.ReconcileSeconds, d.Reconciles)
	res.Grant = summarize(samples)
	res.ToDecision, res.FromDecision = summarize(toDecision), summarize(fromDecision)
	res.RatioP50 = ratio(res.Grant.P50, base.RoundTrip.P50)
	res.RatioP99 = ratio(res.Grant.P99, base.RoundTrip.P99)
	b.logf("grant latency: p50 %s, p95 %s, p99 %s (p99 %.1f× the round trip)", fmtMs(res.Grant.P50), fmtMs(res.Grant.P95), fmtMs(res.Grant.P99), res.RatioP99)
	return res, nil
}
