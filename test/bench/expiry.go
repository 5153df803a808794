package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// expiryResult is how late the operator ends sessions after their deadlines: status.endedAt
// minus the deadline computed from the session's own fields.
type expiryResult struct {
	Heartbeat   summary `json:"heartbeat"`   // renewTime (or creation) + heartbeatTimeout 5s
	Idle        summary `json:"idle"`        // max(stateChangedAt, grantedAt) + idleTimeout 2s
	MaxDuration summary `json:"maxDuration"` // grantedAt + maxDuration 2s
	All         summary `json:"all"`
	// WrongReason counts sessions that ended for another reason than their deadline's.
	WrongReason int `json:"wrongReason"`
}

const expiryNS = "bench-expiry"

// deadlineKind is one of the three deadlines, with the pool that enforces it.
type deadlineKind struct {
	pool   string
	reason v1alpha1.EndReason
	policy v1alpha1.SessionPolicy
	state  v1alpha1.SessionState
	// deadline computes the deadline from the ended session's fields, as the operator should.
	deadline func(s *v1alpha1.SharedSession, p v1alpha1.SessionPolicy) time.Time
}

func deadlineKinds() []deadlineKind {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	return []deadlineKind{
		{
			pool: "silent", reason: v1alpha1.EndHeartbeatExpired, state: v1alpha1.SessionIdle,
			policy: v1alpha1.SessionPolicy{HeartbeatTimeout: dur(5 * time.Second)},
			deadline: func(s *v1alpha1.SharedSession, p v1alpha1.SessionPolicy) time.Time {
				last := s.CreationTimestamp.Time
				if r := s.Status.RenewTime; r != nil && r.After(last) {
					last = r.Time
				}
				return last.Add(p.HeartbeatTimeout.Duration)
			},
		},
		{
			pool: "idle", reason: v1alpha1.EndIdleTimeout, state: v1alpha1.SessionIdle,
			policy: v1alpha1.SessionPolicy{IdleTimeout: dur(2 * time.Second)},
			deadline: func(s *v1alpha1.SharedSession, p v1alpha1.SessionPolicy) time.Time {
				since := s.Status.GrantedAt.Time
				if c := s.Status.StateChangedAt; c != nil && c.After(since) {
					since = c.Time
				}
				return since.Add(p.IdleTimeout.Duration)
			},
		},
		{
			pool: "maxdur", reason: v1alpha1.EndMaxDurationExceeded, state: v1alpha1.SessionConnected,
			policy: v1alpha1.SessionPolicy{MaxDuration: dur(2 * time.Second)},
			deadline: func(s *v1alpha1.SharedSession, p v1alpha1.SessionPolicy) time.Time {
				return s.Status.GrantedAt.Add(p.MaxDuration.Duration)
			},
		},
	}
}

// expiryLag creates sessions of the three kinds, spread over about three seconds so that
// their deadlines are too. The silent ones heartbeat once, half a second after their grant,
// and never again: their deadline moves once, which the operator learns only when the first
// deadline comes (heartbeats do not wake it).
func (b *bench) expiryLag(ctx context.Context) (expiryResult, error) {
	per := b.cfg.sizes.ExpiryPerKind
	var res expiryResult
	if err := createNamespace(ctx, b.load, expiryNS); err != nil {
		return res, err
	}
	defer b.cleanup(expiryNS)
	obs, err := observeSessions(ctx, b.load, expiryNS, false)
	if err != nil {
		return res, err
	}
	kinds := deadlineKinds()
	for _, k := range kinds {
		if err := b.load.Create(ctx, pool(expiryNS, k.pool, limit(per+10), k.policy)); err != nil {
			return res, fmt.Errorf("create pool %s: %w", k.pool, err)
		}
	}
	if err := b.op.waitIdle(ctx, 200*time.Millisecond); err != nil {
		return res, err
	}
	spacing := 3 * time.Second / time.Duration(3*per)
	errs := make(chan error, 3*per)
	var names []string
	for i := range per {
		for _, k := range kinds {
			s := session(expiryNS, k.pool, i)
			s.Spec.State = k.state
			if err := b.load.Create(ctx, s); err != nil {
				return res, fmt.Errorf("create %s: %w", s.Name, err)
			}
			names = append(names, s.Name)
			go func() {
				if k.reason != v1alpha1.EndHeartbeatExpired {
					errs <- nil
					return
				}
				if _, err := obs.wait(ctx, s.Name, v1alpha1.SessionActive); err != nil {
					errs <- err
					return
				}
				time.Sleep(500 * time.Millisecond)
				errs <- heartbeat(ctx, b.load, expiryNS, s.Name, time.Now())
			}()
			time.Sleep(spacing)
		}
	}
	for range names {
		if err := <-errs; err != nil {
			return res, err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range names {
		if _, err := obs.wait(waitCtx, name, v1alpha1.SessionEnded); err != nil {
			return res, err
		}
	}

	var list v1alpha1.SharedSessionList
	if err := b.load.List(ctx, &list, client.InNamespace(expiryNS)); err != nil {
		return res, err
	}
	lags := map[string][]time.Duration{}
	var all []time.Duration
	for i := range list.Items {
		s := &list.Items[i]
		for _, k := range kinds {
			if s.Spec.PoolName != k.pool {
				continue
			}
			if s.Status.EndReason != k.reason || s.Status.EndedAt == nil || s.Status.GrantedAt == nil {
				res.WrongReason++
				continue
			}
			lag := s.Status.EndedAt.Sub(k.deadline(s, k.policy))
			lags[k.pool] = append(lags[k.pool], lag)
			all = append(all, lag)
		}
	}
	res.Heartbeat, res.Idle, res.MaxDuration = summarize(lags["silent"]), summarize(lags["idle"]), summarize(lags["maxdur"])
	res.All = summarize(all)
	b.logf("expiry lag: heartbeat p99 %s, idle p99 %s, max duration p99 %s; %d ended for another reason",
		fmtMs(res.Heartbeat.P99), fmtMs(res.Idle.P99), fmtMs(res.MaxDuration.P99), res.WrongReason)
	return res, nil
}
