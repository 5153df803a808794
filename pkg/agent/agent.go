// Package agent takes, holds and gives back a shared licence for a program: it creates a
// SharedSession, reports its place in the queue, renews its heartbeat, reports the holder's
// state and releases it. The seatkeeper-agent sidecar is built on it; any Go program can use it.
//
//	lease, err := agent.Acquire(ctx, c, agent.Request{Namespace: "acme", Pool: "remote-support", Holder: "alice"}, agent.Options{})
//	if err != nil { ... }
//	defer lease.Release(context.Background(), agent.Delete)
//	if err := lease.Wait(ctx); err != nil { ... } // granted, or why not
//	<-lease.Done()                                 // the operator ended it, or it was released
//
// Request.Count asks for several licences at once, all or none (a run on 4 cores, each core a
// licence); it becomes the session's spec.count.
//
// An Active session can be put under notice: the pool's capacity dropped (CapacityReduced), or
// a waiting session of higher priority takes the licence (Preempted, under the pool's
// sessionPolicy.preemption). Status.EndsAt, Reason and PreemptedBy say when, why and for whom;
// Options.OnNotice is called once for each notice, so that the program can save its work in
// time. A notice can also be lifted (a licence freed first): EndsAt goes back to zero. When the
// notice runs out, the session ends like any other: Wait and Err give an *EndedError whose
// Reason is v1alpha1.EndPreempted or v1alpha1.EndCapacityReduced.
//
//	var ended *agent.EndedError
//	if errors.As(lease.Err(), &ended) && ended.Reason == v1alpha1.EndPreempted { ... }
//
// A pool with spec.overdraftSessions may grant licences beyond its limit when all are in use;
// Status.Overdraft is true while the session holds such a licence (its condition Overdraft).
// Such a session is the first covered again when licences free up, and the first put under
// notice when a lowered limit must be enforced.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// Request names the licence wanted.
type Request struct {
	Namespace string
	Pool      string
	Holder    string
	// Name is the SharedSession's name; empty: generated from the holder.
	Name     string
	Priority int32
	State    v1alpha1.SessionState
	Peer     string
	// Count is how many shared licences to take, all or none (the session's spec.count): the
	// session is granted only when Count licences are free at once, and gives them back
	// together. 0 means 1; at most v1alpha1.MaxSessionCount.
	Count int32
}

// Options tune a lease.
type Options struct {
	// OnChange is called, from the lease's goroutine, whenever any field of the session's
	// Status changes: phase, queue position, message, a notice given or lifted, overdraft. A
	// session that must queue is reported Waiting once it has waited a second; one granted
	// sooner goes from no phase straight to Active.
	OnChange func(Status)
	// OnNotice is called, from the lease's goroutine and after OnChange, once for each notice:
	// when the session is put under notice, and again when the notice's EndsAt, Reason or
	// PreemptedBy changes; not when only its message does. A lifted notice shows in OnChange,
	// as a Status with EndsAt zero.
	OnNotice func(Notice)
	// HeartbeatInterval overrides the renewal interval, which is a third of the pool's
	// heartbeatTimeout (or of the default 60s when the pool cannot be read).
	HeartbeatInterval time.Duration
}

// Status is what the operator last said about the session.
type Status struct {
	Name          string                `json:"session"`
	Phase         v1alpha1.SessionPhase `json:"phase"`
	QueuePosition int32                 `json:"position,omitempty"`
	// Reason is why the session ended; while it is under notice (EndsAt set), why it will end:
	// v1alpha1.EndPreempted or v1alpha1.EndCapacityReduced.
	Reason  v1alpha1.EndReason `json:"reason,omitempty"`
	Message string             `json:"message,omitempty"`
	// EndsAt is set while the session is under notice: the pool's capacity dropped, or a
	// session of higher priority takes the licence (PreemptedBy), and the licence goes back
	// then unless one frees first. Finish or save the work before it.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// PreemptedBy names the waiting session that takes the licence at EndsAt, while the
	// session is under notice of preemption.
	PreemptedBy string `json:"preemptedBy,omitempty"`
	// Overdraft is true while the session holds licences beyond the pool's limit, granted
	// from its spec.overdraftSessions.
	Overdraft bool `json:"overdraft,omitempty"`
}

// Notice says that an Active session is to end, when and why: Options.OnNotice receives it.
type Notice struct {
	// Session is the session under notice.
	Session string `json:"session"`
	// EndsAt is when the licence goes back, unless one frees first.
	EndsAt time.Time `json:"endsAt"`
	// Reason is the end reason the session will have: v1alpha1.EndPreempted (PreemptedBy
	// takes the licence) or v1alpha1.EndCapacityReduced (the pool has fewer licences now).
	Reason v1alpha1.EndReason `json:"reason"`
	// PreemptedBy names the waiting session of higher priority that takes the licence.
	PreemptedBy string `json:"preemptedBy,omitempty"`
	// Message is the operator's explanation, for people.
	Message string `json:"message,omitempty"`
}

// noticeOf is the notice st is under, if any.
func noticeOf(st Status) (Notice, bool) {
	if st.EndsAt.IsZero() {
		return Notice{}, false
	}
	return Notice{Session: st.Name, EndsAt: st.EndsAt, Reason: st.Reason, PreemptedBy: st.PreemptedBy, Message: st.Message}, true
}

// sameNotice reports whether a and b are one notice: a new message alone is no new notice.
func sameNotice(a, b Notice) bool {
	return a.EndsAt.Equal(b.EndsAt) && a.Reason == b.Reason && a.PreemptedBy == b.PreemptedBy
}

// EndedError says the operator ended the session, and why: Reason is one of the
// v1alpha1.EndReason values, such as EndPreempted when a session of higher priority took the
// licence, or EndCapacityReduced when the pool's capacity dropped.
type EndedError struct {
	Reason  v1alpha1.EndReason
	Message string
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("session ended (%s): %s", e.Reason, e.Message)
}

// ErrReleased is the lease's error after Release.
var ErrReleased = errors.New("session released")

// ReleaseMode says how a lease gives its licence back.
type ReleaseMode int

const (
	// Delete deletes the session: the licence frees at once and no record stays.
	Delete ReleaseMode = iota
	// Terminate sets spec.terminate: the operator ends the session and keeps it as the record.
	Terminate
)

// Lease is a held (or awaited) shared licence. Its one goroutine watches the session and
// renews the heartbeat until the session ends, the lease is released or the context of
// Acquire ends.
type Lease struct {
	c        client.WithWatch
	key      types.NamespacedName
	interval time.Duration
	onChange func(Status)
	onNotice func(Notice)
	// notice is the last notice given to onNotice; only the lease's goroutine uses it.
	notice *Notice

	mu      sync.Mutex
	status  Status
	granted chan struct{} // closed once Active
	done    chan struct{} // closed once the goroutine has stopped
	err     error

	cancel context.CancelFunc
}

// Acquire creates the session and starts renewing it. It returns at once: Wait blocks until
// the licence is granted.
func Acquire(ctx context.Context, c client.WithWatch, req Request, opts Options) (*Lease, error) {
	if req.Namespace == "" || req.Pool == "" || req.Holder == "" {
		return nil, errors.New("agent: namespace, pool and holder are required")
	}
	if req.Count < 0 || req.Count > v1alpha1.MaxSessionCount {
		return nil, fmt.Errorf("agent: count %d: a session takes from 1 to %d licences", req.Count, v1alpha1.MaxSessionCount)
	}
	interval := opts.HeartbeatInterval
	if interval <= 0 {
		interval = heartbeatInterval(ctx, c, req)
	}
	s := &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: req.Namespace, Name: req.Name},
		Spec: v1alpha1.SharedSessionSpec{PoolName: req.Pool, Holder: req.Holder, Priority: req.Priority,
			State: req.State, Peer: req.Peer, Count: req.Count},
	}
	if s.Name == "" {
		s.GenerateName = sessionNamePrefix(req.Holder)
	}
	if err := c.Create(ctx, s); err != nil {
		return nil, fmt.Errorf("create session in pool %s/%s: %w", req.Namespace, req.Pool, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	l := &Lease{
		c: c, key: client.ObjectKeyFromObject(s), interval: interval, onChange: opts.OnChange, onNotice: opts.OnNotice,
		status:  Status{Name: s.Name, Phase: s.Status.Phase},
		granted: make(chan struct{}), done: make(chan struct{}), cancel: cancel,
	}
	go l.run(runCtx)
	return l, nil
}

// Name is the session's name.
func (l *Lease) Name() string { return l.key.Name }

// Status is the operator's latest word on the session.
func (l *Lease) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Wait blocks until the licence is granted (nil), the session ends (*EndedError), the lease is
// released (ErrReleased) or ctx ends.
func (l *Lease) Wait(ctx context.Context) error {
	select {
	case <-l.granted:
		return nil
	case <-l.done:
		return l.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the lease stops: the operator ended the session, it was released, or
// the context given to Acquire ended.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err says why the lease stopped; nil while it runs.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Granted reports whether the session holds its licence now.
func (l *Lease) Granted() bool { return l.Status().Phase == v1alpha1.SessionActive }

// SetState reports the holder's state (Idle or Connected) and, when not empty, its peer.
func (l *Lease) SetState(ctx context.Context, state v1alpha1.SessionState, peer string) error {
	spec := map[string]any{"state": state}
	if peer != "" {
		spec["peer"] = peer
	}
	return l.patch(ctx, false, map[string]any{"spec": spec})
}

// Release gives the licence back and stops the lease. It waits for the lease's goroutine.
func (l *Lease) Release(ctx context.Context, mode ReleaseMode) error {
	l.stop(ErrReleased)
	<-l.done
	var err error
	switch mode {
	case Terminate:
		err = l.patch(ctx, false, map[string]any{"spec": map[string]any{"terminate": true}})
	default:
		err = l.c.Delete(ctx, &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: l.key.Namespace, Name: l.key.Name}})
	}
	if apierrors.IsNotFound(err) || (apierrors.IsInvalid(err) && l.ended(ctx)) {
		// Gone, or already Ended: an Ended session's record is final, so the API server refuses
		// to mark it again, and there is no licence left to give back.
		return nil
	}
	return err
}

// ended reports whether the session has ended, as the API server says now.
func (l *Lease) ended(ctx context.Context) bool {
	s := &v1alpha1.SharedSession{}
	return l.c.Get(ctx, l.key, s) == nil && s.Status.Phase == v1alpha1.SessionEnded
}

func (l *Lease) stop(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.cancel()
}

// run watches the session and renews its heartbeat until it ends or ctx ends.
func (l *Lease) run(ctx context.Context) {
	var watcher sync.WaitGroup
	defer close(l.done)
	defer watcher.Wait() // no goroutine outlives the lease
	defer l.cancel()
	events := make(chan *v1alpha1.SharedSession)
	watcher.Go(func() { l.watch(ctx, events) })
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.stop(ctx.Err())
			return
		case s := <-events:
			if s == nil {
				l.stop(&EndedError{Reason: v1alpha1.EndTerminated, Message: "the session was deleted"})
				return
			}
			if l.observe(s) {
				return
			}
		case <-tick.C:
			if err := l.heartbeat(ctx); apierrors.IsNotFound(err) {
				l.stop(&EndedError{Reason: v1alpha1.EndTerminated, Message: "the session was deleted"})
				return
			}
		}
	}
}

// statusOf is what the lease reports of the session's status.
func statusOf(s *v1alpha1.SharedSession) Status {
	st := Status{Name: s.Name, Phase: s.Status.Phase, QueuePosition: s.Status.QueuePosition,
		Reason: s.Status.EndReason, Message: s.Status.Message, PreemptedBy: s.Status.PreemptedBy,
		Overdraft: meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionOverdraft)}
	// Under notice, the API tells the two kinds apart by preemptedBy, which names the session
	// that takes the licence (the EndingSoon condition's reason says the same).
	switch {
	case s.Status.EndsAt == nil:
	case s.Status.PreemptedBy != "":
		st.EndsAt, st.Reason = s.Status.EndsAt.Time, v1alpha1.EndPreempted
	default:
		st.EndsAt, st.Reason = s.Status.EndsAt.Time, v1alpha1.EndCapacityReduced
	}
	return st
}

// observe takes in the session's latest status; it reports whether the session has ended.
func (l *Lease) observe(s *v1alpha1.SharedSession) bool {
	st := statusOf(s)
	l.mu.Lock()
	changed := st != l.status
	l.status = st
	l.mu.Unlock()
	if changed && l.onChange != nil {
		l.onChange(st)
	}
	n, noticed := noticeOf(st)
	switch {
	case !noticed:
		l.notice = nil
	case l.notice == nil || !sameNotice(*l.notice, n):
		l.notice = &n
		if l.onNotice != nil {
			l.onNotice(n)
		}
	}
	if s.Status.Phase == v1alpha1.SessionActive || meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionGranted) {
		select {
		case <-l.granted:
		default:
			close(l.granted)
		}
	}
	if s.Status.Phase == v1alpha1.SessionEnded {
		l.stop(&EndedError{Reason: s.Status.EndReason, Message: s.Status.Message})
		return true
	}
	return false
}

// watch sends each new version of the session, and nil once it is deleted; it re-watches when
// the server ends the watch.
func (l *Lease) watch(ctx context.Context, out chan<- *v1alpha1.SharedSession) {
	sel := client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", l.key.Name)}
	for ctx.Err() == nil {
		w, err := l.c.Watch(ctx, &v1alpha1.SharedSessionList{}, client.InNamespace(l.key.Namespace), sel)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*v1alpha1.SharedSession)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				s = nil
			}
			select {
			case out <- s:
			case <-ctx.Done():
				w.Stop()
				return
			}
		}
		w.Stop()
	}
}

// heartbeat renews status.renewTime with a merge patch through the status subresource.
func (l *Lease) heartbeat(ctx context.Context) error {
	now := metav1.NewMicroTime(time.Now())
	return l.patch(ctx, true, map[string]any{"status": map[string]any{"renewTime": now.UTC().Format(metav1.RFC3339Micro)}})
}

func (l *Lease) patch(ctx context.Context, status bool, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	s := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: l.key.Namespace, Name: l.key.Name}}
	p := client.RawPatch(types.MergePatchType, raw)
	if status {
		return l.c.Status().Patch(ctx, s, p)
	}
	return l.c.Patch(ctx, s, p)
}

// heartbeatInterval is a third of the pool's heartbeatTimeout, or 20s when it cannot be read.
func heartbeatInterval(ctx context.Context, c client.Client, req Request) time.Duration {
	pool := &v1alpha1.LicensePool{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: req.Pool}, pool); err == nil {
		if t := pool.Spec.SessionPolicy.HeartbeatTimeout; t != nil && t.Duration > 0 {
			return t.Duration / 3
		}
	}
	return 20 * time.Second
}
