package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// baselineResult is what the API server alone does, measured before the operator starts.
type baselineResult struct {
	// RoundTrip is a SharedSession's create followed by a status update like the operator's
	// grant, one at a time: the least a grant can take.
	RoundTrip summary `json:"roundTrip"`
	// WatchDelivery is from a status update's response to a watching client seeing it: the
	// hop a grant takes twice (to the operator, and back to the agent) and the round trip not.
	WatchDelivery summary `json:"watchDelivery"`
	// LedgerWrite is a LicensePool status update with optimistic concurrency, the size of
	// the operator's ledger commit (usage, five conditions, a ledger of 20 names and UIDs), one at a time:
	// the first of the two writes a grant needs.
	LedgerWrite summary `json:"ledgerWrite"`
	// CeilingPerSec is the status merge patches per second the API server takes from one
	// client with the operator's settings (QPS 500, burst 1000) and write parallelism.
	CeilingPerSec float64 `json:"ceilingPerSec"`
	CeilingWrites int     `json:"ceilingWrites"`
	Writers       int     `json:"writers"`
	// CapacityPerSec is the same with 64 writers and no client-side limit: what the API
	// server takes when more clients write at once, as agents and the operator together do.
	CapacityPerSec float64 `json:"capacityPerSec"`
	// GrantByPatch and GrantByUpdate are a grant's status written one at a time as a merge
	// patch from the session's last state and as the whole status (what the operator sends),
	// both with optimistic concurrency: their latency and the machine's CPU per write (the API
	// server, etcd and this client), to show what the operator's choice saves.
	GrantByPatch  writeCost `json:"grantByPatch"`
	GrantByUpdate writeCost `json:"grantByUpdate"`
}

// writeCost is one way of writing: its latency, and the machine's CPU per write.
type writeCost struct {
	Latency summary `json:"latency"`
	CPUMs   float64 `json:"cpuMs"`
}

const baselineNS = "bench-baseline"

func (b *bench) baseline(ctx context.Context) (baselineResult, error) {
	s := b.cfg.sizes
	res := baselineResult{Writers: s.Writers}
	if err := createNamespace(ctx, b.load, baselineNS); err != nil {
		return res, err
	}
	// Warm up the connection, discovery and the API server's caches, so that the first
	// samples do not measure them.
	if _, _, err := b.roundTrips(ctx, "warm", 10); err != nil {
		return res, err
	}
	var err error
	if res.RoundTrip, res.WatchDelivery, err = b.measureRoundTrip(ctx, "rt", s.RoundTrips); err != nil {
		return res, err
	}
	b.logf("baseline round trip (create + status update): p50 %s, p99 %s; watch delivery p50 %s, p99 %s",
		fmtMs(res.RoundTrip.P50), fmtMs(res.RoundTrip.P99), fmtMs(res.WatchDelivery.P50), fmtMs(res.WatchDelivery.P99))

	if res.GrantByPatch, res.GrantByUpdate, err = b.grantWrites(ctx, s.RoundTrips); err != nil {
		return res, err
	}
	b.logf("baseline grant written as a merge patch: p50 %s, p99 %s, %.2f ms of machine CPU; as the whole status: p50 %s, p99 %s, %.2f ms",
		fmtMs(res.GrantByPatch.Latency.P50), fmtMs(res.GrantByPatch.Latency.P99), res.GrantByPatch.CPUMs,
		fmtMs(res.GrantByUpdate.Latency.P50), fmtMs(res.GrantByUpdate.Latency.P99), res.GrantByUpdate.CPUMs)

	if res.LedgerWrite, err = b.ledgerWrites(ctx, s.RoundTrips); err != nil {
		return res, err
	}
	b.logf("baseline ledger write (pool status update): p50 %s, p99 %s", fmtMs(res.LedgerWrite.P50), fmtMs(res.LedgerWrite.P99))

	names := make([]string, 0, s.RoundTrips)
	for i := range s.RoundTrips {
		names = append(names, sessionName("rt", i))
	}
	writes, elapsed, err := b.ceiling(ctx, b.paced, names, s.Writers, s.CeilingFor)
	if err != nil {
		return res, err
	}
	res.CeilingWrites = writes
	res.CeilingPerSec = float64(writes) / elapsed.Seconds()
	b.logf("baseline status-write ceiling: %.0f writes/s (%d writers, client QPS 500, burst 1000)", res.CeilingPerSec, s.Writers)
	writes, elapsed, err = b.ceiling(ctx, b.load, names, 64, s.CeilingFor)
	if err != nil {
		return res, err
	}
	res.CapacityPerSec = float64(writes) / elapsed.Seconds()
	b.logf("baseline status-write capacity: %.0f writes/s (64 writers, no client limit)", res.CapacityPerSec)
	return res, emptyNamespace(ctx, b.load, baselineNS)
}

// measureRoundTrip times n round trips, on sessions named prefix-i in the baseline's namespace,
// and how long a watching client takes to see each one's status. Its watch runs until ctx ends.
func (b *bench) measureRoundTrip(ctx context.Context, prefix string, n int) (roundTrip, delivery summary, err error) {
	obs, err := observeSessions(ctx, b.load, baselineNS, false)
	if err != nil {
		return summary{}, summary{}, err
	}
	samples, returned, err := b.roundTrips(ctx, prefix, n)
	if err != nil {
		return summary{}, summary{}, err
	}
	var hops []time.Duration
	for i := range n {
		seen, err := obs.wait(ctx, sessionName(prefix, i), v1alpha1.SessionActive)
		if err != nil {
			return summary{}, summary{}, err
		}
		hops = append(hops, seen.Sub(returned[i]))
	}
	return summarize(samples), summarize(hops), nil
}

// roundTrips creates n sessions one at a time, each followed by the status update the
// operator sends when it grants one, and returns each pair's duration and when it returned.
func (b *bench) roundTrips(ctx context.Context, prefix string, n int) ([]time.Duration, []time.Time, error) {
	var samples []time.Duration
	var returned []time.Time
	for i := range n {
		s := session(baselineNS, prefix, i)
		start := time.Now()
		if err := b.paced.Create(ctx, s); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", s.Name, err)
		}
		grantStatus(s)
		if err := b.paced.Status().Update(ctx, s); err != nil {
			return nil, nil, fmt.Errorf("status of %s: %w", s.Name, err)
		}
		end := time.Now()
		samples, returned = append(samples, end.Sub(start)), append(returned, end)
	}
	return samples, returned, nil
}

// grantWrites creates 2n sessions, then grants them one at a time, in four blocks that
// alternate a merge patch from the created state and an update of the whole status, and
// returns the cost of each way.
func (b *bench) grantWrites(ctx context.Context, n int) (patch, update writeCost, err error) {
	var sessions []*v1alpha1.SharedSession
	for i := range 2 * n {
		s := session(baselineNS, "grant", i)
		if err := b.paced.Create(ctx, s); err != nil {
			return patch, update, fmt.Errorf("create %s: %w", s.Name, err)
		}
		sessions = append(sessions, s)
	}
	var samples [2][]time.Duration
	var busy [2]int64
	for block := range 4 {
		byUpdate := block%2 == 1
		busy0, _, _ := machineCPU()
		for _, s := range sessions[block*n/2 : (block+1)*n/2] {
			orig := s.DeepCopy()
			grantStatus(s)
			start := time.Now()
			if byUpdate {
				err = b.paced.Status().Update(ctx, s)
			} else {
				err = b.paced.Status().Patch(ctx, s, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
			}
			if err != nil {
				return patch, update, fmt.Errorf("grant %s: %w", s.Name, err)
			}
			samples[block%2] = append(samples[block%2], time.Since(start))
		}
		busy1, _, _ := machineCPU()
		busy[block%2] += busy1 - busy0
	}
	cost := func(k int) writeCost {
		return writeCost{Latency: summarize(samples[k]), CPUMs: 1000 * float64(busy[k]) / clockTicks / float64(len(samples[k]))}
	}
	return cost(0), cost(1), nil
}

// ledgerWrites updates a pool's status n times, one at a time, each a ledger commit like the
// operator's: one holder leaves the ledger and another joins.
func (b *bench) ledgerWrites(ctx context.Context, n int) (summary, error) {
	p := pool(baselineNS, "ledger", limit(20), v1alpha1.SessionPolicy{})
	if err := b.paced.Create(ctx, p); err != nil {
		return summary{}, fmt.Errorf("create pool: %w", err)
	}
	var samples []time.Duration
	for i := range n {
		holders, uids := make([]string, 0, 20), make([]types.UID, 0, 20)
		for j := i; j < i+20; j++ {
			holders = append(holders, sessionName("ledger", j))
			uids = append(uids, types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", j)))
		}
		msg := fmt.Sprintf("20/20 shared licences in use, %d waiting", i)
		p.Status = v1alpha1.LicensePoolStatus{
			ObservedGeneration: p.Generation,
			Sessions:           v1alpha1.SessionUsage{Limit: limit(20), Active: 20, Waiting: int32(i), Summary: "20/20"},
			Ledger:             &v1alpha1.Ledger{Sessions: &v1alpha1.Grants{Holders: holders, UIDs: uids, UIDsFor: v1alpha1.HoldersHash(holders)}},
		}
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionExpired, v1alpha1.ConditionExpiringSoon, v1alpha1.ConditionSeatsExhausted, v1alpha1.ConditionSessionsExhausted} {
			p.Status.Conditions = append(p.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: "Bench", Message: msg, LastTransitionTime: metav1.Now(), ObservedGeneration: p.Generation})
		}
		start := time.Now()
		if err := b.paced.Status().Update(ctx, p); err != nil {
			return summary{}, fmt.Errorf("update pool status: %w", err)
		}
		samples = append(samples, time.Since(start))
	}
	return summarize(samples), nil
}

// grantStatus gives s the status of the size and shape of the operator's grant: phase, times,
// message and the two conditions. Updated with s's resourceVersion, it is written as the
// operator writes a grant: the whole status, with optimistic concurrency.
func grantStatus(s *v1alpha1.SharedSession) {
	now := metav1.NewMicroTime(time.Now())
	msg := fmt.Sprintf("%s holds a shared licence of pool %s", s.Spec.Holder, s.Spec.PoolName)
	s.Status = v1alpha1.SharedSessionStatus{
		ObservedGeneration: s.Generation, Phase: v1alpha1.SessionActive,
		GrantedAt: &now, StateChangedAt: &now, ObservedState: v1alpha1.SessionIdle, Message: msg,
		Conditions: []metav1.Condition{
			{Type: v1alpha1.ConditionGranted, Status: metav1.ConditionTrue, Reason: "Granted", Message: msg, LastTransitionTime: metav1.Now(), ObservedGeneration: s.Generation},
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Granted", Message: msg, LastTransitionTime: metav1.Now(), ObservedGeneration: s.Generation},
		},
	}
}

// ceiling runs writers goroutines, each patching the status of its own share of names as fast
// as c lets it, for d, and returns the writes that succeeded.
func (b *bench) ceiling(ctx context.Context, c client.Client, names []string, writers int, d time.Duration) (int, time.Duration, error) {
	var (
		done     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stop := start.Add(d)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop); i += writers {
				name := names[i%len(names)]
				s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: baselineNS, Name: name}}
				patch := fmt.Appendf(nil, `{"status":{"renewTime":%q,"message":"ceiling write %d"}}`, time.Now().UTC().Format(microFormat), i)
				if err := c.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, patch)); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("status write to %s: %w", name, err); cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), time.Since(start), firstErr
}
