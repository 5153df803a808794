package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// heartbeatResult is what renewing Active sessions costs the operator.
type heartbeatResult struct {
	Sessions   int     `json:"sessions"`
	Heartbeats int     `json:"heartbeats"`
	PerSec     float64 `json:"perSec"` // the rate they were sent at
	// CPUPer1000 is operator CPU seconds per 1000 heartbeats, above its idle rate.
	CPUPer1000         float64 `json:"cpuSecondsPer1000"`
	IdleCPUPerSec      float64 `json:"idleCPUSecondsPerSec"`
	ReconcilesPerHB    float64 `json:"reconcilesPerHeartbeat"`
	WritesPerHB        float64 `json:"writesPerHeartbeat"`
	ReadsPerHB         float64 `json:"readsPerHeartbeat"`
	SessionWritesPerHB float64 `json:"sessionWritesPerHeartbeat"` // session updates other than the heartbeats
}

const heartbeatNS = "bench-heartbeat"

// heartbeatCost grants Sessions sessions, measures the operator at rest, then sends
// Heartbeats renewals round-robin from 16 agents' worth of parallel writers and measures again.
func (b *bench) heartbeatCost(ctx context.Context) (heartbeatResult, error) {
	sz := b.cfg.sizes
	res := heartbeatResult{Sessions: sz.HBSessions, Heartbeats: sz.Heartbeats}
	if err := createNamespace(ctx, b.load, heartbeatNS); err != nil {
		return res, err
	}
	defer b.cleanup(heartbeatNS)
	obs, err := observeSessions(ctx, b.load, heartbeatNS, false)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(heartbeatNS, "renew", limit(sz.HBSessions), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	sessions := make([]*v1alpha1.SharedSession, sz.HBSessions)
	for i := range sessions {
		sessions[i] = session(heartbeatNS, "renew", i)
	}
	if err := createSessions(ctx, b.load, sessions); err != nil {
		return res, err
	}
	for _, s := range sessions {
		if _, err := obs.wait(ctx, s.Name, v1alpha1.SessionActive); err != nil {
			return res, err
		}
	}
	if err := b.op.waitIdle(ctx, time.Second); err != nil {
		return res, err
	}

	// At rest: the operator's own background work (cache resyncs, metrics) over a few seconds.
	idle0, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(5 * time.Second):
	}
	idle1, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	idle := idle1.since(idle0)
	res.IdleCPUPerSec = idle.CPUSeconds / idle.Seconds

	modified0 := obs.modifiedSoFar()
	before, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	var sent atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := range b.cfg.sizes.Writers {
		g.Go(func() error {
			for i := w; i < sz.Heartbeats; i += b.cfg.sizes.Writers {
				if err := heartbeat(gctx, b.load, heartbeatNS, sessions[i%len(sessions)].Name, time.Now()); err != nil {
					return fmt.Errorf("heartbeat: %w", err)
				}
				sent.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	sentIn := time.Since(before.at)
	// Let the watch deliver the last renewals to the operator; the wait is charged at the idle
	// rate like the rest of the window. (No polling for idleness here: each scrape of the
	// metrics costs the operator CPU too.)
	time.Sleep(time.Second)
	after, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	d := after.since(before)
	n := float64(sent.Load())
	res.PerSec = n / sentIn.Seconds()
	res.CPUPer1000 = max(d.CPUSeconds-res.IdleCPUPerSec*d.Seconds, 0) / n * 1000
	res.ReconcilesPerHB = d.Reconciles / n
	res.WritesPerHB = d.Writes / n
	res.ReadsPerHB = d.Reads / n
	res.SessionWritesPerHB = float64(obs.modifiedSoFar()-modified0-int(n)) / n
	b.logf("heartbeats: %d at %.0f/s; operator CPU %.3f s per 1000, %.3f reconciles and %.3f writes per heartbeat",
		int(n), res.PerSec, res.CPUPer1000, res.ReconcilesPerHB, res.WritesPerHB)
	return res, nil
}
