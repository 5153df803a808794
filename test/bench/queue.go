package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// queueResult is the time from a release to the head of the queue holding the licence.
type queueResult struct {
	Limit   int     `json:"limit"`
	Length  int     `json:"length"`
	Service summary `json:"service"`
	// The service split at the operator's decision (status.grantedAt of the head): release →
	// decision and decision → seen Granted.
	ToDecision   summary `json:"toDecision"`
	FromDecision summary `json:"fromDecision"`
	RatioP50     float64 `json:"ratioP50"`
	RatioP99     float64 `json:"ratioP99"`
	// What the operator did per release: reconciles, their mean duration, and direct reads.
	ReconcilesPerRelease float64 `json:"reconcilesPerRelease"`
	MeanReconcileMs      float64 `json:"meanReconcileMs"`
	ReadsPerRelease      float64 `json:"readsPerRelease"`
	// Promised is the share of the releases' grants made on the ledger's promise.
	Promised float64 `json:"promised"`
}

const queueNS = "bench-queue"

// queueService fills a pool, queues Length sessions behind it, then repeatedly deletes the
// oldest holder and times until a watch shows the head of the queue Granted; a new session
// joins the tail each time, so the queue keeps its length. Each release waits for the operator
// to be idle, so that it is timed on its own.
func (b *bench) queueService(ctx context.Context, base baselineResult) (queueResult, error) {
	sz := b.cfg.sizes
	res := queueResult{Limit: sz.QueueLimit, Length: sz.QueueLength}
	if err := createNamespace(ctx, b.load, queueNS); err != nil {
		return res, err
	}
	defer b.cleanup(queueNS)
	obs, err := observeSessions(ctx, b.load, queueNS, false)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(queueNS, "full", limit(sz.QueueLimit), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	seq := 0
	add := func(phase v1alpha1.SessionPhase) (string, error) {
		s := session(queueNS, "full", seq)
		seq++
		if err := b.load.Create(ctx, s); err != nil {
			return "", fmt.Errorf("create %s: %w", s.Name, err)
		}
		_, err := obs.wait(ctx, s.Name, phase)
		return s.Name, err
	}
	var holders, queue []string // oldest first
	for range sz.QueueLimit {
		name, err := add(v1alpha1.SessionActive)
		if err != nil {
			return res, err
		}
		holders = append(holders, name)
	}
	for range sz.QueueLength {
		name, err := add(v1alpha1.SessionWaiting)
		if err != nil {
			return res, err
		}
		queue = append(queue, name)
	}

	samples := make([]time.Duration, 0, sz.QueueSamples)
	var toDecision, fromDecision []time.Duration
	if err := b.op.waitIdle(ctx, 0); err != nil {
		return res, err
	}
	before, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	for len(samples) < sz.QueueSamples {
		if err := b.op.waitIdle(ctx, settle); err != nil {
			return res, err
		}
		victim, head := holders[0], queue[0]
		start := time.Now()
		if err := b.load.Delete(ctx, &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: queueNS, Name: victim}}); err != nil {
			return res, fmt.Errorf("release %s: %w", victim, err)
		}
		granted, err := obs.wait(ctx, head, v1alpha1.SessionActive)
		if err != nil {
			return res, err
		}
		samples = append(samples, granted.Sub(start))
		if decided := obs.decidedAt(head); !decided.IsZero() {
			toDecision, fromDecision = append(toDecision, decided.Sub(start)), append(fromDecision, granted.Sub(decided))
		}
		holders, queue = append(holders[1:], head), queue[1:]
		name, err := add(v1alpha1.SessionWaiting)
		if err != nil {
			return res, err
		}
		queue = append(queue, name)
	}
	d, err := b.op.usedSince(ctx, before)
	if err != nil {
		return res, err
	}
	n := float64(len(samples))
	res.ReconcilesPerRelease, res.ReadsPerRelease, res.Promised = d.Reconciles/n, d.Reads/n, d.Promised/n
	res.MeanReconcileMs = 1000 * ratio(d.ReconcileSeconds, d.Reconciles)
	res.Service = summarize(samples)
	res.ToDecision, res.FromDecision = summarize(toDecision), summarize(fromDecision)
	res.RatioP50 = ratio(res.Service.P50, base.RoundTrip.P50)
	res.RatioP99 = ratio(res.Service.P99, base.RoundTrip.P99)
	b.logf("queue service: p50 %s, p99 %s (p99 %.1f× the round trip); %.0f%% granted on a promise", fmtMs(res.Service.P50), fmtMs(res.Service.P99), res.RatioP99, 100*res.Promised)
	return res, nil
}
