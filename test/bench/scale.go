package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// scaleResult is the operator's memory and CPU with many sessions in its cache.
type scaleResult struct {
	EmptyRSS  int64        `json:"emptyRSSBytes"` // a fresh operator with nothing to cache
	EmptyHeap float64      `json:"emptyHeapInuseBytes"`
	Points    []scalePoint `json:"points"`
}

type scalePoint struct {
	Sessions int `json:"sessions"`
	Pools    int `json:"pools"`
	// RSS and HeapInuse once every session is granted and the operator is idle.
	RSS       int64   `json:"rssBytes"`
	HeapInuse float64 `json:"heapInuseBytes"`
	// HeapKept is heap memory that is free but not yet returned to the OS: most of the gap
	// between RSS and the heap in use after a burst of grants.
	HeapKept float64 `json:"heapKeptBytes"`
	// BytesPerSession is (RSS − EmptyRSS) / Sessions; HeapPerSession the same for the heap.
	BytesPerSession float64 `json:"bytesPerSession"`
	HeapPerSession  float64 `json:"heapBytesPerSession"`
	// SettleSeconds is from the operator's start to every session granted and the operator
	// idle; SettleCPUSeconds the CPU it used for that (start-up, listing, granting).
	SettleSeconds    float64 `json:"settleSeconds"`
	SettleCPUSeconds float64 `json:"settleCPUSeconds"`
	// IdleCPUPercent is the CPU it uses afterwards with nothing happening, in % of one core.
	IdleCPUPercent float64 `json:"idleCPUPercent"`
	Writes         float64 `json:"writes"`
	Reconciles     float64 `json:"reconciles"`
}

const scaleNS = "bench-scale"

// atRest is how long a scale point waits, idle, before it measures.
const atRest = 12 * time.Second

// scale measures, for each number of sessions and of pools, a fresh operator started over
// sessions created while no operator ran: it lists them all, grants them (each pool has room
// for its share), and is measured once idle. A fresh process per point keeps one point's
// garbage out of the next point's RSS. The caller has stopped the shared operator.
func (b *bench) scale(ctx context.Context) (scaleResult, error) {
	var res scaleResult
	empty, err := b.emptyOperator(ctx)
	if err != nil {
		return res, err
	}
	res.EmptyRSS, res.EmptyHeap = empty.RSS, empty.HeapInuse
	for _, n := range b.cfg.sizes.ScaleSessions {
		for _, p := range b.cfg.sizes.ScalePools {
			pt, err := b.measureFresh(ctx, n, p)
			if err != nil {
				return res, fmt.Errorf("%d sessions in %d pools: %w", n, p, err)
			}
			pt.BytesPerSession = float64(pt.RSS-res.EmptyRSS) / float64(n)
			pt.HeapPerSession = (pt.HeapInuse - res.EmptyHeap) / float64(n)
			res.Points = append(res.Points, pt)
			b.logf("scale: %d sessions in %s: RSS %.1f MiB (%.0f bytes per session), settled in %.1fs using %.1f CPU s",
				n, plural(p, "pool"), mib(float64(pt.RSS)), pt.BytesPerSession, pt.SettleSeconds, pt.SettleCPUSeconds)
		}
	}
	return res, nil
}

// emptyOperator measures a fresh operator with nothing to cache, the base of the per-session
// and per-holder figures.
func (b *bench) emptyOperator(ctx context.Context) (scalePoint, error) {
	if err := createNamespace(ctx, b.load, scaleNS); err != nil {
		return scalePoint{}, err
	}
	empty, err := b.measureFresh(ctx, 0, 0)
	if err == nil {
		b.logf("empty operator RSS %.1f MiB, heap in use %.1f MiB", mib(float64(empty.RSS)), mib(empty.HeapInuse))
	}
	return empty, err
}

// measureFresh creates n sessions over p pools, starts an operator, waits for every grant,
// measures, stops the operator and removes the objects.
func (b *bench) measureFresh(ctx context.Context, n, p int) (scalePoint, error) {
	pt := scalePoint{Sessions: n, Pools: p}
	defer b.cleanup(scaleNS)
	perPool := (n + max(p, 1) - 1) / max(p, 1)
	for j := range p {
		if err := b.load.Create(ctx, pool(scaleNS, fmt.Sprintf("pool-%03d", j), limit(perPool), v1alpha1.SessionPolicy{})); err != nil {
			return pt, fmt.Errorf("create pool: %w", err)
		}
	}
	sessions := make([]*v1alpha1.SharedSession, n)
	for i := range sessions {
		sessions[i] = session(scaleNS, fmt.Sprintf("pool-%03d", i%p), i/p)
	}
	if n > 0 {
		b.logf("scale: creating %d sessions in %s", n, plural(p, "pool"))
	}
	if err := createSessions(ctx, b.load, sessions); err != nil {
		return pt, err
	}

	op, err := b.startOperator(ctx, fmt.Sprintf("operator-scale-%d-%d.log", n, p))
	if err != nil {
		return pt, err
	}
	defer op.stop()
	started := time.Now()
	settleCtx, cancel := context.WithTimeout(ctx, b.cfg.phaseTimeout)
	defer cancel()
	if err := b.waitGranted(settleCtx, op, n); err != nil {
		return pt, err
	}
	if err := op.waitIdle(settleCtx, time.Second); err != nil {
		return pt, err
	}
	settled, err := op.usage(ctx)
	if err != nil {
		return pt, err
	}
	pt.SettleSeconds = time.Since(started).Seconds()
	pt.SettleCPUSeconds = settled.cpu.Seconds()
	pt.Writes, pt.Reconciles = settled.writes, settled.reconciles

	rest, err := restedUsage(ctx, op)
	if err != nil {
		return pt, err
	}
	d := rest.since(settled)
	pt.IdleCPUPercent = 100 * d.CPUSeconds / d.Seconds
	pt.RSS, pt.HeapInuse, pt.HeapKept = rest.rss, rest.heapInuse, rest.heapKept
	if b.profiles != "" && n > 0 {
		path := filepath.Join(b.profiles, fmt.Sprintf("scale-%d-%d.heap.pprof", n, p))
		if err := op.writeHeapProfile(ctx, path); err != nil {
			return pt, err
		}
		b.logf("operator heap profile: go tool pprof -sample_index=inuse_space -top %s", rel(b.root, path))
	}
	return pt, nil
}

// restedUsage reads the operator's usage once it has rested atRest: idle CPU, and memory once
// the grant burst is over. The operator gives the burst's memory back after 5 quiet seconds
// (memtrim), checked every 5: 12 s covers it.
func restedUsage(ctx context.Context, op *operator) (usage, error) {
	select {
	case <-ctx.Done():
		return usage{}, ctx.Err()
	case <-time.After(atRest):
	}
	return op.usage(ctx)
}

// waitGranted waits until the pools of scaleNS report n Active sessions between them.
func (b *bench) waitGranted(ctx context.Context, op *operator, n int) error {
	for {
		if err := op.alive(); err != nil {
			return err
		}
		var pools v1alpha1.LicensePoolList
		if err := b.load.List(ctx, &pools, client.InNamespace(scaleNS)); err != nil {
			return err
		}
		active := 0
		for _, p := range pools.Items {
			active += int(p.Status.Sessions.Active)
		}
		if active >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d sessions granted: %w", active, n, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func mib(bytes float64) float64 { return bytes / (1 << 20) }
