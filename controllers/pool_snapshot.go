package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// This file translates between the API's objects and the allocator's snapshot and result.

// holderUIDs maps the names of a pool's cached claimants to their UIDs, to match them with
// the ledger's entries.
type holderUIDs struct {
	seats, sessions map[string]types.UID
}

func uidsOf(seats []*v1alpha1.SeatAssignment, sessions []*v1alpha1.SharedSession) holderUIDs {
	u := holderUIDs{seats: make(map[string]types.UID, len(seats)), sessions: make(map[string]types.UID, len(sessions))}
	for _, s := range seats {
		u.seats[s.Name] = s.UID
	}
	for _, s := range sessions {
		u.sessions[s.Name] = s.UID
	}
	return u
}

// ledgerNames are the ledger's holders as the allocator sees them: an entry whose claimant was
// deleted and created again under the same name (another UID) is not the new claimant's
// grant, so it is left out.
func ledgerNames(g *v1alpha1.Grants, cached map[string]types.UID) []string {
	recorded := g.RecordedUIDs()
	names := make([]string, 0, len(g.Holders))
	for i, n := range g.Holders {
		if uid, ok := cached[n]; ok && recorded != nil && recorded[i] != "" && recorded[i] != uid {
			continue
		}
		names = append(names, n)
	}
	return names
}

// ledgerGrants records the allocator's holders with their UIDs, from the cache or, for a
// holder the cache does not show, from the old ledger ("" when neither knows it).
func ledgerGrants(names []string, old *v1alpha1.Grants, cached map[string]types.UID) *v1alpha1.Grants {
	g := &v1alpha1.Grants{Holders: names}
	if len(names) == 0 {
		return g
	}
	var before map[string]types.UID
	if old != nil {
		before = make(map[string]types.UID, len(old.Holders))
		if recorded := old.RecordedUIDs(); recorded != nil {
			for i, n := range old.Holders {
				before[n] = recorded[i]
			}
		}
	}
	g.UIDs = make([]types.UID, len(names))
	for i, n := range names {
		if uid, ok := cached[n]; ok {
			g.UIDs[i] = uid
		} else {
			g.UIDs[i] = before[n]
		}
	}
	g.UIDsFor = v1alpha1.HoldersHash(names)
	return g
}

func allocatorPool(name string, pool *v1alpha1.LicensePool, capacity orderCapacity, uids holderUIDs) allocator.Pool {
	p := allocator.Pool{Name: name, Policy: allocator.DefaultPolicy}
	if pool == nil {
		return p
	}
	s := pool.Spec
	p.Found = true
	if s.ManagedBy != v1alpha1.ControllerName {
		p.ManagedBy = s.ManagedBy
	}
	p.SeatLimit = addLimit(s.Seats, capacity.seats)
	p.SessionLimit = addLimit(s.ConcurrentSessions, capacity.sessions)
	p.CapacityChanges = capacity.changes
	if s.ExpiresAt != nil {
		p.ExpiresAt = &s.ExpiresAt.Time
	}
	p.ExpiryWarning = durationOr(s.ExpiryWarning, 168*time.Hour)
	sp := s.SessionPolicy
	p.Policy = allocator.Policy{
		HeartbeatTimeout: durationOr(sp.HeartbeatTimeout, allocator.DefaultPolicy.HeartbeatTimeout),
		IdleTimeout:      durationOr(sp.IdleTimeout, 0),
		MaxDuration:      durationOr(sp.MaxDuration, 0),
		RetainEnded:      durationOr(sp.RetainEnded, allocator.DefaultPolicy.RetainEnded),
		Reject:           sp.WhenExhausted == v1alpha1.WhenExhaustedReject,
		RequireSeat:      sp.RequireSeat,
		CountByHolder:    sp.CountBy == v1alpha1.CountByHolder,
	}
	if l := pool.Status.Ledger; l != nil {
		if l.Seats != nil {
			p.SeatLedger = ledgerNames(l.Seats, uids.seats)
		}
		if l.Sessions != nil {
			p.SessionLedger = ledgerNames(l.Sessions, uids.sessions)
		}
	}
	return p
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func allocatorSeat(s *v1alpha1.SeatAssignment) allocator.Seat {
	return allocator.Seat{
		Name:     s.Name,
		Created:  s.CreationTimestamp.Time,
		Kind:     s.Spec.Assignee.Kind,
		Assignee: s.Spec.Assignee.Name,
		Enabled:  s.Spec.Enabled == nil || *s.Spec.Enabled,
		Phase:    s.Status.Phase,
		Reason:   s.Status.Reason,
		Message:  s.Status.Message,
		BoundAt:  timeOf(s.Status.BoundAt),
	}
}

func allocatorSession(s *v1alpha1.SharedSession) allocator.Session {
	return allocator.Session{
		Name:     s.Name,
		Created:  s.CreationTimestamp.Time,
		Holder:   s.Spec.Holder,
		State:    stateOf(s),
		Priority: s.Spec.Priority,
		// A session being deleted (held back by someone's finalizer) ends like a terminated
		// one, so that it stops showing Active before its licence goes to someone else.
		Terminate:      s.Spec.Terminate || !s.DeletionTimestamp.IsZero(),
		Phase:          s.Status.Phase,
		EndReason:      s.Status.EndReason,
		Message:        s.Status.Message,
		QueuePosition:  s.Status.QueuePosition,
		RenewTime:      microOf(s.Status.RenewTime),
		GrantedAt:      microOf(s.Status.GrantedAt),
		EndedAt:        microOf(s.Status.EndedAt),
		StateChangedAt: microOf(s.Status.StateChangedAt),
		ObservedState:  s.Status.ObservedState,
	}
}

func stateOf(s *v1alpha1.SharedSession) v1alpha1.SessionState {
	if s.Spec.State == "" {
		return v1alpha1.SessionIdle
	}
	return s.Spec.State
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

func microOf(t *metav1.MicroTime) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}

func toTime(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	v := metav1.NewTime(*t)
	return &v
}

func toMicro(t *time.Time) *metav1.MicroTime {
	if t == nil {
		return nil
	}
	v := metav1.NewMicroTime(*t)
	return &v
}

// seatStatus is the status a seat should have for the allocator's result. Conditions keep
// their transition times when their status does not change.
func seatStatus(s *v1alpha1.SeatAssignment, r allocator.SeatResult) v1alpha1.SeatAssignmentStatus {
	st := v1alpha1.SeatAssignmentStatus{
		ObservedGeneration: s.Generation,
		Phase:              r.Phase,
		Reason:             r.Reason,
		Message:            r.Message,
		BoundAt:            toTime(r.BoundAt),
		Conditions:         append([]metav1.Condition(nil), s.Status.Conditions...),
	}
	if st.BoundAt != nil && s.Status.BoundAt != nil && st.BoundAt.Equal(s.Status.BoundAt) {
		st.BoundAt = s.Status.BoundAt
	}
	bound, ready := metav1.ConditionFalse, metav1.ConditionFalse
	if r.Phase == v1alpha1.SeatBound {
		bound, ready = metav1.ConditionTrue, metav1.ConditionTrue
	}
	if r.Phase == v1alpha1.SeatDisabled {
		ready = metav1.ConditionTrue
	}
	setCondition(&st.Conditions, v1alpha1.ConditionBound, bound, string(r.Reason), r.Message, s.Generation)
	setCondition(&st.Conditions, v1alpha1.ConditionReady, ready, string(r.Reason), r.Message, s.Generation)
	return st
}

// sessionStatus is the status a session should have for the allocator's result. It never
// carries renewTime: that field is the holder's, and a merge patch leaves it alone.
func sessionStatus(s *v1alpha1.SharedSession, r allocator.SessionResult) v1alpha1.SharedSessionStatus {
	st := v1alpha1.SharedSessionStatus{
		RenewTime:          s.Status.RenewTime,
		ObservedGeneration: s.Generation,
		Phase:              r.Phase,
		QueuePosition:      r.QueuePosition,
		GrantedAt:          keepMicro(s.Status.GrantedAt, toMicro(r.GrantedAt)),
		EndedAt:            keepMicro(s.Status.EndedAt, toMicro(r.EndedAt)),
		StateChangedAt:     keepMicro(s.Status.StateChangedAt, toMicro(r.StateChangedAt)),
		ObservedState:      r.ObservedState,
		EndReason:          r.EndReason,
		Message:            r.Message,
		Conditions:         append([]metav1.Condition(nil), s.Status.Conditions...),
	}
	granted := metav1.ConditionFalse
	reason := string(r.Phase)
	switch r.Phase {
	case v1alpha1.SessionActive:
		granted, reason = metav1.ConditionTrue, "Granted"
	case v1alpha1.SessionEnded:
		reason = string(r.EndReason)
	}
	setCondition(&st.Conditions, v1alpha1.ConditionGranted, granted, reason, r.Message, s.Generation)
	setCondition(&st.Conditions, v1alpha1.ConditionReady, granted, reason, r.Message, s.Generation)
	return st
}

// keepMicro returns old when it is the same instant as new (so the object does not change),
// else new.
func keepMicro(old, new *metav1.MicroTime) *metav1.MicroTime {
	if old != nil && new != nil && old.Time.Equal(new.Time) {
		return old
	}
	return new
}

func setCondition(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, msg string, gen int64) {
	if reason == "" {
		reason = "Unknown"
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}
