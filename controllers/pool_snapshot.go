package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// snapshot is what one pass decides on: the pool (nil when it does not exist), its seat
// assignments and sessions (as cached, never modified: a write copies), the capacity its
// active orders add, and the claimants' UIDs by name.
type snapshot struct {
	key      types.NamespacedName
	pool     *v1alpha1.LicensePool
	seats    []*v1alpha1.SeatAssignment
	sessions []*v1alpha1.SharedSession
	capacity orderCapacity
	uids     holderUIDs
	// renewedAt overrides the renewTime of sessions whose agent wrote one from the future
	// (poolMemory.renewedAt): the allocator judges heartbeats on the operator's clock.
	renewedAt map[types.UID]time.Time
	// writing are the claimants the slow lane is writing (poolMemory.catchUp): none of them
	// may be written from this snapshot.
	writing map[types.UID]bool
	// partObjs are the pool's LicenseLedgers, the parts of its ledger past the first (see
	// "Parts" in ledger.go); partSize is how many holders of a kind a part records (0: the
	// API's LedgerPartSize).
	partObjs []*v1alpha1.LicenseLedger
	partSize int
	// strayParts are LicenseLedgers naming the pool that another pool of the same name, since
	// deleted, owned: the garbage collector has not removed them yet. They are no part of this
	// pool's ledger, and are deleted before a part of the same name is created.
	strayParts []*v1alpha1.LicenseLedger
	// promises are the ledger's promises as the cache shows them (see "Promises" in ledger.go).
	promises promiseState
	// ledgerAt is when this operator last wrote the pool's status (zero: not since it started).
	ledgerAt time.Time
}

// ledger is the pool's ledger, by part.
func (s *snapshot) ledger() ledgerParts {
	return readParts(s.pool, s.partObjs)
}

// size is how many holders of a kind one part of the ledger records.
func (s *snapshot) size() int {
	if s.partSize > 0 {
		return s.partSize
	}
	return v1alpha1.LedgerPartSize
}

// empty reports whether there is nothing left of the pool: no pool and no claimants.
func (s *snapshot) empty() bool {
	return s.pool == nil && len(s.seats) == 0 && len(s.sessions) == 0
}

// snapshot reads the pool's snapshot from the cache. A non-zero wait says the cache is not
// ready to decide on yet (it is behind one of our writes, or behind the ledger) and when to
// look again.
func (r *PoolReconciler) snapshot(ctx context.Context, key types.NamespacedName) (*snapshot, time.Duration, error) {
	s := &snapshot{key: key, partSize: r.partSize}
	var err error
	if s.pool, err = r.getPool(ctx, key); err != nil {
		return nil, 0, err
	}
	if s.seats, s.sessions, err = listClaimants(ctx, r.Client, key); err != nil {
		return nil, 0, err
	}
	if s.empty() {
		return s, 0, nil
	}
	if s.pool != nil {
		if s.partObjs, s.strayParts, err = listParts(ctx, r.Client, s.pool); err != nil {
			return nil, 0, err
		}
	}
	writing, partsBehind := r.memory.catchUp(r.Clock.Now(), s)
	if partsBehind {
		// The ledger this pass would decide on misses a part we created.
		return nil, echoDelay, nil
	}
	s.writing = writing
	s.uids = uidsOf(s.seats, s.sessions)
	if ahead, err := r.ledgerAhead(ctx, s.pool, s.ledger(), s.uids); err != nil || ahead {
		return nil, cacheDelay, err
	}
	if s.capacity, err = r.orderCapacity(ctx, key, s.pool, false); err != nil {
		return nil, 0, err
	}
	s.renewedAt = r.memory.renewedAt(r.Clock.Now(), s.sessions)
	s.readPromises(r.memory.isDeleted)
	s.ledgerAt = r.memory.ledgerWrittenAt(key)
	return s, 0, nil
}

// readPromises reads the ledger's promises against the snapshot's sessions.
func (s *snapshot) readPromises(deleted func(types.UID) bool) {
	if s.pool == nil {
		return
	}
	s.promises = readPromises(s.pool, s.sessions, deleted, addLimit(s.pool.Spec.ConcurrentSessions, s.capacity.sessions))
}

// freshSnapshot reads again from the API server what a decision that needs it rests on (see
// allocator.Result.NeedsFreshRead): an existing pool, the parts of its ledger, its claimants
// and orders, or, for a pool the cache does not show, that it really does not exist. A non-zero wait says the pool
// exists after all (or that cannot be told), and the cache should catch up first.
func (r *PoolReconciler) freshSnapshot(ctx context.Context, cached *snapshot) (*snapshot, time.Duration, error) {
	if cached.pool == nil {
		if err := r.APIReader.Get(ctx, cached.key, &v1alpha1.LicensePool{}); !apierrors.IsNotFound(err) {
			return nil, cacheDelay, err
		}
		return cached, 0, nil
	}
	s := &snapshot{key: cached.key, pool: &v1alpha1.LicensePool{}, partSize: cached.partSize}
	if err := r.APIReader.Get(ctx, cached.key, s.pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, cacheDelay, nil // deleted since: the cache will say so
		}
		return nil, 0, fmt.Errorf("get pool %s: %w", cached.key, err)
	}
	var err error
	if s.partObjs, s.strayParts, err = listParts(ctx, r.APIReader, s.pool); err != nil {
		return nil, 0, err
	}
	if s.seats, s.sessions, err = listClaimants(ctx, r.APIReader, s.key); err != nil {
		return nil, 0, err
	}
	if s.capacity, err = r.orderCapacity(ctx, s.key, s.pool, true); err != nil {
		return nil, 0, err
	}
	s.uids = uidsOf(s.seats, s.sessions)
	s.renewedAt = r.memory.renewedAt(r.Clock.Now(), s.sessions)
	s.writing = cached.writing // read around the cache, but the lane's writes are still in flight
	s.ledgerAt = cached.ledgerAt
	s.readPromises(r.memory.isDeleted)
	return s, 0, nil
}

func (r *PoolReconciler) getPool(ctx context.Context, key types.NamespacedName) (*v1alpha1.LicensePool, error) {
	pool := &v1alpha1.LicensePool{}
	if err := r.Get(ctx, key, pool); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get pool %s: %w", key, err)
	}
	return pool, nil
}

// listClaimants lists the pool's seat assignments and sessions, from the cache without copies:
// they are read-only here, and copied only when written. The cache's index and the API
// server's selectable field share the name spec.poolName, so the same call reads either.
func listClaimants(ctx context.Context, reader client.Reader, key types.NamespacedName) ([]*v1alpha1.SeatAssignment, []*v1alpha1.SharedSession, error) {
	opts := []client.ListOption{client.InNamespace(key.Namespace), client.MatchingFields{indexPoolName: key.Name}, client.UnsafeDisableDeepCopy}
	var seatList v1alpha1.SeatAssignmentList
	if err := reader.List(ctx, &seatList, opts...); err != nil {
		return nil, nil, fmt.Errorf("list seats of pool %s: %w", key, err)
	}
	var sessList v1alpha1.SharedSessionList
	if err := reader.List(ctx, &sessList, opts...); err != nil {
		return nil, nil, fmt.Errorf("list sessions of pool %s: %w", key, err)
	}
	seats := make([]*v1alpha1.SeatAssignment, 0, len(seatList.Items))
	for i := range seatList.Items {
		seats = append(seats, &seatList.Items[i])
	}
	sessions := make([]*v1alpha1.SharedSession, 0, len(sessList.Items))
	for i := range sessList.Items {
		sessions = append(sessions, &sessList.Items[i])
	}
	return seats, sessions, nil
}

// listParts lists the pool's LicenseLedgers from the cache, without copies (see listClaimants):
// those the pool owns, and strays that name it but were owned by an earlier pool of its name.
func listParts(ctx context.Context, reader client.Reader, pool *v1alpha1.LicensePool) (owned, stray []*v1alpha1.LicenseLedger, err error) {
	var list v1alpha1.LicenseLedgerList
	opts := []client.ListOption{client.InNamespace(pool.Namespace), client.MatchingFields{indexPoolName: pool.Name}, client.UnsafeDisableDeepCopy}
	if err := reader.List(ctx, &list, opts...); err != nil {
		return nil, nil, fmt.Errorf("list ledger parts of pool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	for i := range list.Items {
		if p := &list.Items[i]; metav1.IsControlledBy(p, pool) {
			owned = append(owned, p)
		} else {
			stray = append(stray, p)
		}
	}
	return owned, stray, nil
}

// orderCapacity sums the active orders naming the pool, from the cache or, when fresh, from the
// API server.
func (r *PoolReconciler) orderCapacity(ctx context.Context, key types.NamespacedName, pool *v1alpha1.LicensePool, fresh bool) (orderCapacity, error) {
	if pool == nil {
		return orderCapacity{}, nil
	}
	var orders v1alpha1.CustomerOrderList
	var err error
	if fresh {
		// The API server has no selector on order items: read them all (rare: see
		// NeedsFreshRead); capacityFor keeps the ones naming this pool.
		err = r.APIReader.List(ctx, &orders)
	} else {
		err = r.List(ctx, &orders, client.MatchingFields{indexOrderPool: key.String()})
	}
	if err != nil {
		return orderCapacity{}, fmt.Errorf("list orders of pool %s: %w", key, err)
	}
	productOf := func(name string) (string, bool) {
		if name == key.Name {
			return pool.Spec.Product, true
		}
		other := &v1alpha1.LicensePool{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, other); err != nil {
			return "", false
		}
		return other.Spec.Product, true
	}
	return capacityFor(orders.Items, key.Namespace, key.Name, pool.Spec.Product, r.Clock.Now(), productOf), nil
}

// decide runs the allocator over the snapshot.
func (s *snapshot) decide(now time.Time) allocator.Result {
	seats := make([]allocator.Seat, len(s.seats))
	for i, c := range s.seats {
		seats[i] = allocatorSeat(c)
	}
	sessions := make([]allocator.Session, len(s.sessions))
	for i, c := range s.sessions {
		sessions[i] = allocatorSession(c)
		if t, ok := s.renewedAt[c.UID]; ok {
			sessions[i].RenewTime = &t
		}
	}
	pool := allocatorPool(s.key.Name, s.pool, s.capacity, s.uids, s.ledger())
	if pool.SessionLedger != nil && len(s.promises.held) > 0 {
		// Sessions granted on their promise, or whose promise is due, hold: the ledger is
		// about to record them.
		pool.SessionLedger = append(slices.Clone(pool.SessionLedger), s.promises.held...)
	}
	return allocator.Decide(pool, seats, sessions, now)
}

// The rest of this file translates the API's objects into the allocator's snapshot.

func allocatorPool(name string, pool *v1alpha1.LicensePool, capacity orderCapacity, uids holderUIDs, ledger ledgerParts) allocator.Pool {
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
		CapacityGrace:    durationOr(sp.CapacityGracePeriod, defaultCapacityGrace),
		MaxPerHolder:     int(sp.MaxPerHolder),
		Overdraft:        int(ptr.Deref(s.OverdraftSessions, 0)),
	}
	if pr := sp.Preemption; pr != nil && pr.Policy == v1alpha1.PreemptLowerPriority {
		p.Policy.Preempt = true
		p.Policy.PreemptGrace = durationOr(pr.GracePeriod, defaultPreemptGrace)
	}
	p.Groups = allocatorGroups(s.Groups)
	p.SeatLedger = partNames(ledger.seats, uids.seats)
	p.SessionLedger = partNames(ledger.sessions, uids.sessions)
	return p
}

// defaultCapacityGrace and defaultPreemptGrace are the API's defaults of
// sessionPolicy.capacityGracePeriod and sessionPolicy.preemption.gracePeriod, for a pool read
// without the API server's defaulting.
const (
	defaultCapacityGrace = 5 * time.Minute
	defaultPreemptGrace  = 30 * time.Second
)

// allocatorGroups are the pool's groups in the order of its spec (a holder belongs to the
// first that matches it); nil when it names none.
func allocatorGroups(groups []v1alpha1.HolderGroup) []allocator.Group {
	if len(groups) == 0 {
		return nil
	}
	out := make([]allocator.Group, len(groups))
	for i, g := range groups {
		out[i] = allocator.Group{
			Name:        g.Name,
			Members:     g.Members,
			Reserved:    int(ptr.Deref(g.ReservedSessions, 0)),
			MaxSessions: g.MaxSessions,
			MaxSeats:    g.MaxSeats,
		}
	}
	return out
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
		Count:    s.Spec.Count,
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
		EndsAt:         microOf(s.Status.EndsAt),
		PreemptedBy:    s.Status.PreemptedBy,
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
