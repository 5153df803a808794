package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// handoffResult is how fast a freed licence reaches the next in line behind a long queue.
type handoffResult struct {
	Limit    int     `json:"limit"`
	Sessions int     `json:"sessions"`
	HoldMs   float64 `json:"holdMs"`
	// Handoff pairs the k-th release (the delete's return) with the k-th grant after the first
	// M, as a watch sees it Active: the k-th freed licence is the k-th taken from the queue.
	Handoff      summary `json:"handoff"`
	RoundTrip    summary `json:"roundTrip"` // the API server's alone, which the ratios compare with
	RatioP50     float64 `json:"ratioP50"`
	RatioP99     float64 `json:"ratioP99"`
	GrantsPerSec float64 `json:"grantsPerSec"` // sustained, between the 10th and 90th percentile grants
	IdealPerSec  float64 `json:"idealPerSec"`  // M ÷ hold
	RatioToIdeal float64 `json:"ratioToIdeal"`
	// WritesPerGrant is the operator's API writes over the run per grant; Promised the share
	// of grants made on the ledger's promise, before the ledger recorded them.
	WritesPerGrant float64 `json:"writesPerGrant"`
	Promised       float64 `json:"promised"`
	// CPUPerGrantMs is the operator's CPU time over the run per grant, and PassesPerGrant its
	// pool passes: what the operator adds to the machine the API server runs on.
	CPUPerGrantMs  float64 `json:"cpuPerGrantMs"`
	PassesPerGrant float64 `json:"passesPerGrant"`
	// MachineBusy is the fraction of all CPUs busy during the run, as churn's; OperatorShare is
	// the operator's CPU time as a fraction of that busy time.
	MachineBusy   float64 `json:"machineBusy"`
	OperatorShare float64 `json:"operatorShare"`
	// StalestGap is the largest difference seen between a waiting session's real place in the
	// queue and the queuePosition its status shows; StalestFor the longest a session's shown
	// position stayed wrong. Both sampled every 50 ms.
	StalestGap int     `json:"stalestGap"`
	StalestFor float64 `json:"stalestForMs"`
	// ToDecision and FromDecision split each hand-off at the operator's decision (the next
	// session's status.grantedAt): the wait for a pass, and the pass's writes and the watch.
	ToDecision   summary `json:"toDecision"`
	FromDecision summary `json:"fromDecision"`
}

const handoffNS = "bench-handoff"

// handoff creates Sessions sessions at once in a pool of Limit licences, so that a queue of
// Sessions − Limit stands behind the holders; each holder is deleted Hold after a watch shows it
// Active, as an agent that finished its work would, and the next in line takes its licence.
func (b *bench) handoff(ctx context.Context, base baselineResult) (handoffResult, error) {
	sz := b.cfg.sizes
	res := handoffResult{Limit: sz.HandoffLimit, Sessions: sz.HandoffSessions, HoldMs: ms(sz.Hold), RoundTrip: base.RoundTrip}
	if err := createNamespace(ctx, b.load, handoffNS); err != nil {
		return res, err
	}
	defer b.cleanup(handoffNS)
	obs, err := observeSessions(ctx, b.load, handoffNS, true)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(handoffNS, "handoff", limit(sz.HandoffLimit), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	if err := b.op.waitIdle(ctx, 300*time.Millisecond); err != nil {
		return res, err
	}
	before, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.phaseTimeout)
	defer cancel()
	stopSampling := sampleStaleness(obs)
	busy0, total0, _ := machineCPU()
	names, releases, err := b.holdAndRelease(runCtx, obs, sz.HandoffSessions, sz.Hold)
	busy1, total1, _ := machineCPU()
	stale := stopSampling()
	if err != nil {
		return res, err
	}
	if err := b.op.waitIdle(ctx, 300*time.Millisecond); err != nil {
		return res, err
	}
	after, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	var grants []time.Time
	decided := map[time.Time]time.Time{} // when seen Active → when decided
	for _, name := range names {
		at, err := obs.wait(ctx, name, v1alpha1.SessionActive)
		if err != nil {
			return res, err
		}
		grants = append(grants, at)
		decided[at] = obs.decidedAt(name)
	}
	if len(grants) < 10 {
		return res, fmt.Errorf("only %d sessions were granted", len(grants))
	}
	slices.SortFunc(grants, time.Time.Compare)
	handoffs := pairHandoffs(grants, releases, sz.HandoffLimit)
	var toDecision, fromDecision []time.Duration
	for k, r := range releases {
		if k+sz.HandoffLimit >= len(grants) {
			break
		}
		seen := grants[k+sz.HandoffLimit]
		if d := decided[seen]; !d.IsZero() && d.After(r) {
			toDecision, fromDecision = append(toDecision, d.Sub(r)), append(fromDecision, seen.Sub(d))
		}
	}
	res.ToDecision, res.FromDecision = summarize(toDecision), summarize(fromDecision)
	b.logf("handoff: slowest (release → decision + decision → seen): %s", slowest(handoffs, releases, grants, decided, sz.HandoffLimit, 8))
	res.Handoff = summarize(handoffs)
	res.RatioP50, res.RatioP99 = ratio(res.Handoff.P50, base.RoundTrip.P50), ratio(res.Handoff.P99, base.RoundTrip.P99)
	lo, hi := len(grants)/10, len(grants)*9/10
	res.GrantsPerSec = float64(hi-lo) / grants[hi].Sub(grants[lo]).Seconds()
	res.IdealPerSec = float64(sz.HandoffLimit) / sz.Hold.Seconds()
	res.RatioToIdeal = ratio(res.GrantsPerSec, res.IdealPerSec)
	used := after.since(before)
	res.WritesPerGrant = used.Writes / float64(len(grants))
	res.Promised = used.Promised / float64(len(grants))
	res.CPUPerGrantMs = 1000 * used.CPUSeconds / float64(len(grants))
	res.PassesPerGrant = used.Reconciles / float64(len(grants))
	res.MachineBusy = ratio(float64(busy1-busy0), float64(total1-total0))
	// The operator's CPU is counted to its idle wait after the run too, where the machine's
	// is not: a share slightly too high rather than too low.
	res.OperatorShare = ratio(used.CPUSeconds*clockTicks, float64(busy1-busy0))
	res.StalestGap, res.StalestFor = stale.gap, ms(stale.longest)
	b.logf("handoff: release → next grant p50 %s, p99 %s; %.1f grants/s (ideal %.0f); %.2f writes, %.2f passes and %.1f ms of the operator's CPU per grant, %.0f%% granted on a promise; positions off by up to %d for up to %s; machine %.0f%% busy, %.0f%% of that the operator",
		fmtMs(res.Handoff.P50), fmtMs(res.Handoff.P99), res.GrantsPerSec, res.IdealPerSec, res.WritesPerGrant, res.PassesPerGrant, res.CPUPerGrantMs, 100*res.Promised, res.StalestGap, time.Duration(res.StalestFor*float64(time.Millisecond)), 100*res.MachineBusy, 100*res.OperatorShare)
	return res, nil
}

// meets reports whether the run met the targets for the hand-off's latency (p99 ≤ 100 ms
// and ≤ 1.5× the round trip, p50 ≤ the round trip + 10 ms) and for its rate (≥ 90% of M ÷ hold).
func (h handoffResult) meets() (latency, rate bool) {
	latency = h.Handoff.N > 0 && h.Handoff.P99 <= 100 && h.RatioP99 <= 1.5 && h.Handoff.P50 <= h.RoundTrip.P50+10
	return latency, h.RatioToIdeal >= 0.9
}

// holdAndRelease creates n sessions at once, and deletes each hold after a watch shows it
// Active. It returns the sessions' names and when each release returned, in order.
func (b *bench) holdAndRelease(ctx context.Context, obs *observer, n int, hold time.Duration) ([]string, []time.Time, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	names := make([]string, n)
	for i := range n {
		s := session(handoffNS, "handoff", i)
		names[i] = s.Name
		g.Go(func() error {
			if err := b.load.Create(gctx, s); err != nil {
				return fmt.Errorf("create %s: %w", s.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var releases []time.Time
	holders, hctx := errgroup.WithContext(ctx)
	for _, name := range names {
		holders.Go(func() error {
			if _, err := obs.wait(hctx, name, v1alpha1.SessionActive); err != nil {
				return err
			}
			select {
			case <-hctx.Done():
				return hctx.Err()
			case <-time.After(hold):
			}
			if err := b.load.Delete(hctx, &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: handoffNS, Name: name}}); err != nil {
				return fmt.Errorf("release %s: %w", name, err)
			}
			mu.Lock()
			releases = append(releases, time.Now())
			mu.Unlock()
			return nil
		})
	}
	err := holders.Wait()
	slices.SortFunc(releases, time.Time.Compare)
	return names, releases, err
}

// pairHandoffs pairs the k-th release with the k-th grant after the first limit (both sorted):
// the k-th freed licence is the k-th taken from the queue.
func pairHandoffs(grants, releases []time.Time, limit int) []time.Duration {
	var out []time.Duration
	for k, r := range releases {
		if k+limit < len(grants) {
			out = append(out, grants[k+limit].Sub(r))
		}
	}
	return out
}

// slowest lists the n slowest hand-offs, split at the operator's decision, and when they
// happened after the first grant, to tell a burst from a steady cost.
func slowest(handoffs []time.Duration, releases, grants []time.Time, decided map[time.Time]time.Time, limit, n int) string {
	order := make([]int, len(handoffs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(handoffs[b], handoffs[a]) })
	var slow []string
	for _, k := range order[:min(n, len(order))] {
		split := ""
		if d := decided[grants[k+limit]]; !d.IsZero() && d.After(releases[k]) {
			split = fmt.Sprintf(" (%s + %s)", d.Sub(releases[k]).Round(time.Millisecond), grants[k+limit].Sub(d).Round(time.Millisecond))
		}
		slow = append(slow, fmt.Sprintf("%s%s at +%.1fs", handoffs[k].Round(time.Millisecond), split, releases[k].Sub(grants[0]).Seconds()))
	}
	return strings.Join(slow, ", ")
}

// sampleStaleness samples the observer's sessions every 50 ms until the returned function is
// called, which returns what it saw.
func sampleStaleness(obs *observer) func() *staleness {
	stale := newStaleness()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				stale.sample(obs.kept(), time.Now())
			}
		}
	}()
	return func() *staleness {
		close(stop)
		<-done
		return stale
	}
}

// staleness follows how far the queue positions sessions show are from their real places.
type staleness struct {
	gap     int
	longest time.Duration
	since   map[string]time.Time // when a session's shown position first went wrong
}

func newStaleness() *staleness { return &staleness{since: map[string]time.Time{}} }

// sample compares, at now, each waiting session's queuePosition with its real place: its rank
// by name (they share priority and creation second order) among the sessions not yet granted,
// ended or deleted.
func (s *staleness) sample(seen []*v1alpha1.SharedSession, now time.Time) {
	var waiting []*v1alpha1.SharedSession
	for _, x := range seen {
		if x.Status.Phase == v1alpha1.SessionWaiting || x.Status.Phase == "" {
			if x.DeletionTimestamp == nil {
				waiting = append(waiting, x)
			}
		}
	}
	slices.SortFunc(waiting, func(a, b *v1alpha1.SharedSession) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	for i, x := range waiting {
		shown := int(x.Status.QueuePosition)
		if x.Status.Phase == "" {
			delete(s.since, x.Name) // not announced yet: it shows no position to be wrong
			continue
		}
		gap := shown - (i + 1)
		if gap < 0 {
			gap = -gap
		}
		if gap == 0 {
			delete(s.since, x.Name)
			continue
		}
		s.gap = max(s.gap, gap)
		first, ok := s.since[x.Name]
		if !ok {
			s.since[x.Name] = now
			continue
		}
		s.longest = max(s.longest, now.Sub(first))
	}
}
