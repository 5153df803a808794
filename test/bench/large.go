package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// largeResult is one pool of many shared licences and one of many seats, each filled by a
// fresh operator: whether everything is granted, how fast, in how much memory, and whether the
// API server refused anything (a ledger too large for one object would be).
type largeResult struct {
	EmptyRSS  int64        `json:"emptyRSSBytes"`
	EmptyHeap float64      `json:"emptyHeapInuseBytes"`
	Points    []largePoint `json:"points"`
}

type largePoint struct {
	Kind    string `json:"kind"` // "sessions" or "seats"
	Holders int    `json:"holders"`
	Granted int    `json:"granted"`
	// Parts is the number of LicenseLedgers the pool's ledger took besides its status (3,000
	// holders of a kind take one: part 0 is the pool's status).
	Parts int `json:"ledgerParts"`
	// SettleSeconds is from the operator's start to every holder granted.
	SettleSeconds      float64 `json:"settleSeconds"`
	SettleGrantsPerSec float64 `json:"settleGrantsPerSec"`
	// RSS and HeapInuse once settled and at rest; per holder, less the empty operator's.
	RSS            int64   `json:"rssBytes"`
	HeapInuse      float64 `json:"heapInuseBytes"`
	BytesPerHolder float64 `json:"bytesPerHolder"`
	HeapPerHolder  float64 `json:"heapBytesPerHolder"`
	// Churn holders are then released (deleted) and as many new ones created at once;
	// SettledGrantsPerSec is how fast the new ones are granted.
	Churn               int     `json:"churn"`
	SettledGrantsPerSec float64 `json:"settledGrantsPerSec"`
	// Refused counts the operator's requests the API server refused for good (400, 403, 413,
	// 422), by "METHOD code".
	Refused       int                `json:"refused"`
	RefusedByCode map[string]float64 `json:"refusedByCode,omitempty"`
}

const largeNS = "bench-large"

// large fills one pool of LargeHolders shared licences with as many sessions, then one pool of
// as many seats with as many seat assignments, each with a fresh operator started over claimants
// created while none ran, as after a migration. The caller has stopped the shared operator.
func (b *bench) large(ctx context.Context) (largeResult, error) {
	var res largeResult
	if err := createNamespace(ctx, b.load, largeNS); err != nil {
		return res, err
	}
	empty, err := b.emptyOperator(ctx)
	if err != nil {
		return res, err
	}
	res.EmptyRSS, res.EmptyHeap = empty.RSS, empty.HeapInuse
	for _, kind := range []string{"sessions", "seats"} {
		pt, err := b.largePoint(ctx, kind, res)
		res.Points = append(res.Points, pt)
		if err != nil {
			return res, fmt.Errorf("%d %s: %w", b.cfg.sizes.LargeHolders, kind, err)
		}
		b.logf("large: %d %s granted in %.1fs (%.0f/s) with %s; RSS %.1f MiB, %.2f KiB per holder; %.0f grants/s once settled; %d refused",
			pt.Granted, kind, pt.SettleSeconds, pt.SettleGrantsPerSec, plural(pt.Parts, "ledger part"), mib(float64(pt.RSS)), pt.BytesPerHolder/1024, pt.SettledGrantsPerSec, pt.Refused)
	}
	return res, nil
}

func (b *bench) largePoint(ctx context.Context, kind string, res largeResult) (largePoint, error) {
	n := b.cfg.sizes.LargeHolders
	pt := largePoint{Kind: kind, Holders: n, Churn: min(b.cfg.sizes.LargeChurn, n)}
	defer b.cleanup(largeNS)
	p := pool(largeNS, "large", limit(n), v1alpha1.SessionPolicy{})
	if kind == "seats" {
		p.Spec.ConcurrentSessions, p.Spec.Seats = limit(0), limit(n)
	}
	if err := b.load.Create(ctx, p); err != nil {
		return pt, fmt.Errorf("create pool: %w", err)
	}
	b.logf("large: creating %d %s", n, kind)
	created := time.Now()
	if err := b.createHolders(ctx, kind, 0, n); err != nil {
		return pt, err
	}
	b.logf("large: created in %.1fs; starting the operator", time.Since(created).Seconds())

	op, err := b.startOperator(ctx, fmt.Sprintf("operator-large-%s.log", kind))
	if err != nil {
		return pt, err
	}
	defer op.stop()
	before, err := op.usage(ctx)
	if err != nil {
		return pt, err
	}
	started := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	// The ledger shows every grant first (the pool's counts come from it); the claimants are
	// written after it, and the operator is idle once they all are.
	if err := b.settle(wctx, op, kind, n); err != nil {
		return pt, err
	}
	pt.SettleSeconds = time.Since(started).Seconds() - idleQuiet.Seconds()
	if pt.Granted, err = b.countGranted(ctx, kind); err != nil {
		return pt, err
	}
	pt.SettleGrantsPerSec = float64(pt.Granted) / pt.SettleSeconds
	rest, err := restedUsage(ctx, op)
	if err != nil {
		return pt, err
	}
	pt.RSS, pt.HeapInuse = rest.rss, rest.heapInuse
	pt.BytesPerHolder = float64(pt.RSS-res.EmptyRSS) / float64(n)
	pt.HeapPerHolder = (pt.HeapInuse - res.EmptyHeap) / float64(n)
	var parts v1alpha1.LicenseLedgerList
	if err := b.load.List(ctx, &parts, client.InNamespace(largeNS)); err != nil {
		return pt, err
	}
	pt.Parts = len(parts.Items)

	// Once settled: release the oldest Churn holders, then ask for as many new ones at once,
	// and time from the first request to the last grant shown on its claimant.
	b.logf("large: releasing %d %s, then asking for %d", pt.Churn, kind, pt.Churn)
	if err := b.deleteHolders(ctx, kind, 0, pt.Churn); err != nil {
		return pt, err
	}
	if err := op.waitIdle(wctx, idleQuiet); err != nil {
		return pt, err
	}
	churned := time.Now()
	if err := b.createHolders(ctx, kind, n, n+pt.Churn); err != nil {
		return pt, err
	}
	if err := b.settle(wctx, op, kind, n); err != nil {
		return pt, err
	}
	pt.SettledGrantsPerSec = float64(pt.Churn) / (time.Since(churned) - idleQuiet).Seconds()
	if got, err := b.countGranted(ctx, kind); err != nil || got != n {
		return pt, fmt.Errorf("after the churn, %d of %d granted (%v)", got, n, err)
	}

	after, err := op.usage(ctx)
	if err != nil {
		return pt, err
	}
	pt.RefusedByCode = map[string]float64{}
	for k, v := range after.since(before).Requests {
		for _, code := range []string{" 400", " 403", " 413", " 422"} {
			if strings.HasSuffix(k, code) {
				pt.RefusedByCode[k] = v
				pt.Refused += int(v)
			}
		}
	}
	return pt, nil
}

// idleQuiet is how long the operator must have been idle to count as settled.
const idleQuiet = time.Second

// settle waits until the large pool's ledger records want holders and the operator is idle,
// which it is once every claimant shows its grant.
func (b *bench) settle(ctx context.Context, op *operator, kind string, want int) error {
	if _, err := b.waitHolders(ctx, op, kind, want); err != nil {
		return err
	}
	return op.waitIdle(ctx, idleQuiet)
}

// countGranted counts the large pool's claimants that show a grant, reading them in pages.
func (b *bench) countGranted(ctx context.Context, kind string) (int, error) {
	n, cont := 0, ""
	for {
		opts := []client.ListOption{client.InNamespace(largeNS), client.Limit(5000), client.Continue(cont)}
		if kind == "seats" {
			var l v1alpha1.SeatAssignmentList
			if err := b.load.List(ctx, &l, opts...); err != nil {
				return 0, err
			}
			for _, s := range l.Items {
				if s.Status.Phase == v1alpha1.SeatBound {
					n++
				}
			}
			cont = l.Continue
		} else {
			var l v1alpha1.SharedSessionList
			if err := b.load.List(ctx, &l, opts...); err != nil {
				return 0, err
			}
			for _, s := range l.Items {
				if s.Status.Phase == v1alpha1.SessionActive {
					n++
				}
			}
			cont = l.Continue
		}
		if cont == "" {
			return n, nil
		}
	}
}

// createHolders creates the claimants numbered from..to-1 of the large pool, 32 at a time.
func (b *bench) createHolders(ctx context.Context, kind string, from, to int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := from; i < to; i++ {
		g.Go(func() error {
			obj := largeHolder(kind, i)
			if err := b.load.Create(gctx, obj); err != nil {
				return fmt.Errorf("create %s %s: %w", kind, obj.GetName(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// deleteHolders deletes the claimants numbered from..to-1 of the large pool.
func (b *bench) deleteHolders(ctx context.Context, kind string, from, to int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := from; i < to; i++ {
		g.Go(func() error { return client.IgnoreNotFound(b.load.Delete(gctx, largeHolder(kind, i))) })
	}
	return g.Wait()
}

func largeHolder(kind string, i int) client.Object {
	name := fmt.Sprintf("holder-%07d", i)
	meta := metav1.ObjectMeta{Namespace: largeNS, Name: name}
	if kind == "seats" {
		return &v1alpha1.SeatAssignment{ObjectMeta: meta, Spec: v1alpha1.SeatAssignmentSpec{
			PoolName: "large", Assignee: v1alpha1.Assignee{Kind: v1alpha1.AssigneeUser, Name: name}}}
	}
	return &v1alpha1.SharedSession{ObjectMeta: meta, Spec: v1alpha1.SharedSessionSpec{PoolName: "large", Holder: name}}
}

// waitHolders waits until the large pool reports want holders granted, and returns how many
// it reports when it stops.
func (b *bench) waitHolders(ctx context.Context, op *operator, kind string, want int) (int, error) {
	last := time.Now()
	for {
		if err := op.alive(); err != nil {
			return 0, err
		}
		p := &v1alpha1.LicensePool{}
		if err := b.load.Get(ctx, client.ObjectKey{Namespace: largeNS, Name: "large"}, p); err != nil {
			return 0, err
		}
		got := int(p.Status.Sessions.Active)
		if kind == "seats" {
			got = int(p.Status.Seats.Bound)
		}
		if got >= want {
			return got, nil
		}
		if time.Since(last) > 15*time.Second {
			b.logf("large: %d of %d %s granted", got, want, kind)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("%d of %d granted: %w", got, want, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// refusedDetail lists refused requests by method and code.
func refusedDetail(by map[string]float64) string {
	var parts []string
	for k, v := range by {
		parts = append(parts, fmt.Sprintf("%s: %.0f", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
