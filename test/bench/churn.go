package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// churnResult is grant throughput with holders that come and go.
type churnResult struct {
	Sessions int     `json:"sessions"`
	Limit    int     `json:"limit"`
	Clients  int     `json:"clients"`
	HoldMs   float64 `json:"holdMs"`
	Granted  int     `json:"granted"`
	// Incomplete is set when the run hit -phase-timeout before every session was granted.
	Incomplete bool `json:"incomplete"`
	// GrantsPerSec is sustained: grants between the 10th and 90th percentile of grant times,
	// over that time. OverallPerSec is all grants over first create to last grant.
	GrantsPerSec  float64 `json:"grantsPerSec"`
	OverallPerSec float64 `json:"overallPerSec"`
	GrantWait     summary `json:"grantWait"` // create → Granted, queueing included
	// QueuedFirst is the fraction of granted sessions a watch saw Waiting before Active.
	QueuedFirst float64 `json:"queuedFirst"`

	// The operator's writes (rest_client_requests_total POST, PUT, PATCH, DELETE) over the run,
	// and how they split: session status updates and pool status updates as a watch sees them,
	// Events created, and the rest (ledger checks that change nothing, deletions).
	OperatorWrites         float64 `json:"operatorWrites"`
	OperatorWritesPerGrant float64 `json:"operatorWritesPerGrant"`
	SessionWritesPerGrant  float64 `json:"sessionWritesPerGrant"`
	PoolWritesPerGrant     float64 `json:"poolWritesPerGrant"`
	EventsPerGrant         float64 `json:"eventsPerGrant"`
	OtherWritesPerGrant    float64 `json:"otherWritesPerGrant"`
	ReconcilesPerGrant     float64 `json:"reconcilesPerGrant"`
	ConflictsPerGrant      float64 `json:"conflictsPerGrant"` // writes refused with 409 (counted in the writes)
	AbortedPerGrant        float64 `json:"abortedPerGrant"`   // writes with no answer: cancelled by the client (counted too)
	// Requests is the operator's API requests over the run by "METHOD code".
	Requests           map[string]float64 `json:"requests"`
	OperatorCPUSeconds float64            `json:"operatorCPUSeconds"`
	MachineBusy        float64            `json:"machineBusy"` // fraction of all CPUs busy during the run

	// WritesPerCycle is the API writes one grant cycle needs: the benchmark's create and delete
	// plus the operator's writes per grant. IdealPerSec is the baseline's status-write ceiling
	// divided by it: the most grants per second the API server's write rate allows.
	WritesPerCycle float64 `json:"writesPerCycle"`
	IdealPerSec    float64 `json:"idealPerSec"`
	RatioToIdeal   float64 `json:"ratioToIdeal"`
	RatioToCeiling float64 `json:"ratioToCeiling"`
}

const churnNS = "bench-churn"

// grantThroughput runs N sessions through a pool of M licences: Clients goroutines each
// create a session, wait for its grant, hold it for Hold and delete it, then take the next.
func (b *bench) grantThroughput(ctx context.Context, base baselineResult) (churnResult, error) {
	sz := b.cfg.sizes
	res := churnResult{Sessions: sz.ChurnSessions, Limit: sz.ChurnLimit, Clients: sz.ChurnClients, HoldMs: ms(sz.Hold)}
	if err := createNamespace(ctx, b.load, churnNS); err != nil {
		return res, err
	}
	defer b.cleanup(churnNS)
	obs, err := observeSessions(ctx, b.load, churnNS, false)
	if err != nil {
		return res, err
	}
	pools, err := countUpdates(ctx, b.load, &v1alpha1.LicensePoolList{}, churnNS)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(churnNS, "churn", limit(sz.ChurnLimit), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	if err := b.op.waitIdle(ctx, 300*time.Millisecond); err != nil {
		return res, err
	}
	before, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	poolsBefore, sessionsBefore := pools.count(), obs.modifiedSoFar()
	busy0, total0, _ := machineCPU()

	runCtx, cancel := context.WithTimeout(ctx, b.cfg.phaseTimeout)
	defer cancel()
	grantedAt, waits, err := b.churn(runCtx, obs)
	timedOut := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
	if err != nil && !timedOut {
		return res, err
	}
	res.Incomplete = timedOut

	if err := b.op.waitIdle(ctx, 500*time.Millisecond); err != nil {
		return res, err
	}
	after, err := b.op.usage(ctx)
	if err != nil {
		return res, err
	}
	busy1, total1, _ := machineCPU()
	var events eventsv1.EventList
	if err := b.load.List(ctx, &events, client.InNamespace(churnNS)); err != nil {
		return res, fmt.Errorf("list events: %w", err)
	}

	res.Granted = len(grantedAt)
	if res.Granted < 10 {
		return res, fmt.Errorf("only %d sessions were granted", res.Granted)
	}
	slices.SortFunc(grantedAt, time.Time.Compare)
	lo, hi := res.Granted/10, res.Granted*9/10
	res.GrantsPerSec = float64(hi-lo) / grantedAt[hi].Sub(grantedAt[lo]).Seconds()
	res.OverallPerSec = float64(res.Granted) / grantedAt[res.Granted-1].Sub(before.at).Seconds()
	res.GrantWait = summarize(waits)
	queued := 0
	for i := range sz.ChurnSessions {
		name := sessionName("churn", i)
		if obs.saw(name, v1alpha1.SessionActive) && obs.saw(name, v1alpha1.SessionWaiting) {
			queued++
		}
	}
	res.QueuedFirst = float64(queued) / float64(res.Granted)

	d := after.since(before)
	g := float64(res.Granted)
	res.OperatorWrites = d.Writes
	res.OperatorWritesPerGrant = d.Writes / g
	res.SessionWritesPerGrant = float64(obs.modifiedSoFar()-sessionsBefore) / g
	res.PoolWritesPerGrant = float64(pools.count()-poolsBefore) / g
	res.EventsPerGrant = float64(len(events.Items)) / g
	res.OtherWritesPerGrant = res.OperatorWritesPerGrant - res.SessionWritesPerGrant - res.PoolWritesPerGrant - res.EventsPerGrant
	res.ReconcilesPerGrant = d.Reconciles / g
	res.Requests = d.Requests
	for k, v := range d.Requests {
		switch {
		case strings.HasSuffix(k, " 409"):
			res.ConflictsPerGrant += v / g
		case strings.HasSuffix(k, " <error>") && !strings.HasPrefix(k, "GET"):
			res.AbortedPerGrant += v / g
		}
	}
	res.OperatorCPUSeconds = d.CPUSeconds
	res.MachineBusy = ratio(float64(busy1-busy0), float64(total1-total0))
	res.WritesPerCycle = 2 + res.OperatorWritesPerGrant
	res.IdealPerSec = base.CeilingPerSec / res.WritesPerCycle
	res.RatioToIdeal = ratio(res.GrantsPerSec, res.IdealPerSec)
	res.RatioToCeiling = ratio(res.GrantsPerSec, base.CeilingPerSec)
	b.logf("churn: %d grants, %.1f/s sustained (ideal %.1f/s: ceiling %.0f/s ÷ %.2f writes per cycle), operator writes per grant %.2f",
		res.Granted, res.GrantsPerSec, res.IdealPerSec, base.CeilingPerSec, res.WritesPerCycle, res.OperatorWritesPerGrant)
	return res, nil
}

// churn drives the clients and returns when each grant was seen and how long each session
// waited for it. On a timeout it returns what it has with the context's error.
func (b *bench) churn(ctx context.Context, obs *observer) ([]time.Time, []time.Duration, error) {
	sz := b.cfg.sizes
	var (
		next    atomic.Int64
		mu      sync.Mutex
		granted []time.Time
		waits   []time.Duration
		errs    []error
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-progress.C:
				mu.Lock()
				b.logf("churn: %d of %d granted", len(granted), sz.ChurnSessions)
				mu.Unlock()
			}
		}
	}()
	for range sz.ChurnClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= sz.ChurnSessions || ctx.Err() != nil {
					return
				}
				s := session(churnNS, "churn", i)
				start := time.Now()
				if err := b.load.Create(ctx, s); err != nil {
					fail(fmt.Errorf("create %s: %w", s.Name, err))
					return
				}
				at, err := obs.wait(ctx, s.Name, v1alpha1.SessionActive)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				granted = append(granted, at)
				waits = append(waits, at.Sub(start))
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(sz.Hold):
				}
				if err := b.load.Delete(ctx, s); err != nil {
					fail(fmt.Errorf("delete %s: %w", s.Name, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	outer := context.Cause(ctx)
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return granted, waits, err
		}
	}
	if outer != nil && !errors.Is(outer, context.Canceled) {
		return granted, waits, outer
	}
	return granted, waits, nil
}
