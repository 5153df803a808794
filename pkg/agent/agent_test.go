package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// newFakeClient is a fake API server. Its watches end with their context, as a real API
// server's do (the fake's stay open, and the lease would wait for them forever).
func newFakeClient(t *testing.T) client.WithWatch {
	c, _ := newWatchedFakeClient(t)
	return c
}

// newWatchedFakeClient is newFakeClient, and a channel that receives once each watch has
// started: the fake sends only the changes made after, where a real API server starts with
// the object as it is.
func newWatchedFakeClient(t *testing.T) (client.WithWatch, <-chan struct{}) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{}, 16)
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1alpha1.SharedSession{}).
		WithInterceptorFuncs(interceptor.Funcs{Watch: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
			w, err := c.Watch(ctx, list, opts...)
			if err == nil {
				go func() { <-ctx.Done(); w.Stop() }()
				select {
				case watching <- struct{}{}:
				default:
				}
			}
			return w, err
		}}).Build()
	return c, watching
}

// TestAcquireCount: Request.Count becomes the session's spec.count; left at 0 it is left out,
// for the API server's default of 1.
func TestAcquireCount(t *testing.T) {
	for _, count := range []int32{0, 1, 4, v1alpha1.MaxSessionCount} {
		c := newFakeClient(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lease, err := Acquire(ctx, c, Request{Namespace: "acme", Pool: "solver", Holder: "gina", Name: "run", Count: count},
			Options{HeartbeatInterval: time.Hour})
		if err != nil {
			cancel()
			t.Fatalf("count %d: %v", count, err)
		}
		s := &v1alpha1.SharedSession{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "acme", Name: "run"}, s); err != nil {
			t.Fatal(err)
		}
		if s.Spec.Count != count {
			t.Errorf("Count %d: spec.count = %d", count, s.Spec.Count)
		}
		if err := lease.Release(ctx, Delete); err != nil {
			t.Errorf("release: %v", err)
		}
		cancel()
	}
}

// TestAcquireCountOutOfRange: a count the API server would refuse is refused before anything
// is created, saying what is allowed.
func TestAcquireCountOutOfRange(t *testing.T) {
	for _, count := range []int32{-1, v1alpha1.MaxSessionCount + 1} {
		c := newFakeClient(t)
		_, err := Acquire(context.Background(), c, Request{Namespace: "acme", Pool: "solver", Holder: "gina", Count: count}, Options{HeartbeatInterval: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "from 1 to 1024 licences") {
			t.Errorf("count %d: err = %v, want one that gives the range", count, err)
		}
		var list v1alpha1.SharedSessionList
		if err := c.List(context.Background(), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Errorf("count %d: %d sessions created, want none", count, len(list.Items))
		}
	}
}

// noticeLog records what a lease's callbacks were given.
type noticeLog struct {
	changes []Status
	notices []Notice
}

// TestObserveNotices: OnNotice is called once per notice, when it is given and when its end,
// reason or preempting session changes, never for a new message alone; Status carries the
// notice and the overdraft, and OnChange every change.
func TestObserveNotices(t *testing.T) {
	at := func(min int) *metav1.MicroTime {
		m := metav1.NewMicroTime(time.Date(2026, 12, 1, 9, min, 0, 0, time.UTC))
		return &m
	}
	endingSoon := func(reason v1alpha1.EndReason) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.ConditionEndingSoon, Status: metav1.ConditionTrue, Reason: string(reason)}}
	}
	overdraft := []metav1.Condition{{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionTrue, Reason: "Overdraft"}}
	active := v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, Message: "granted"}
	preempted := v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, EndsAt: at(5), PreemptedBy: "urgent-1",
		Message: "session urgent-1 of priority 10 takes this licence at 09:05", Conditions: endingSoon(v1alpha1.EndPreempted)}
	with := func(st v1alpha1.SharedSessionStatus, change func(*v1alpha1.SharedSessionStatus)) v1alpha1.SharedSessionStatus {
		change(&st)
		return st
	}
	preemptedStatus := Status{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndPreempted, Message: preempted.Message,
		EndsAt: at(5).Time, PreemptedBy: "urgent-1"}
	preemptedNotice := Notice{Session: "run", EndsAt: at(5).Time, Reason: v1alpha1.EndPreempted, PreemptedBy: "urgent-1", Message: preempted.Message}

	tests := []struct {
		name     string
		statuses []v1alpha1.SharedSessionStatus
		want     noticeLog
	}{
		{
			name:     "granted, no notice",
			statuses: []v1alpha1.SharedSessionStatus{active, active},
			want:     noticeLog{changes: []Status{{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted"}}},
		},
		{
			name:     "preempted: one notice, though the status is read again",
			statuses: []v1alpha1.SharedSessionStatus{active, preempted, preempted},
			want: noticeLog{
				changes: []Status{{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted"}, preemptedStatus},
				notices: []Notice{preemptedNotice},
			},
		},
		{
			name: "a new message alone is no new notice",
			statuses: []v1alpha1.SharedSessionStatus{preempted,
				with(preempted, func(s *v1alpha1.SharedSessionStatus) { s.Message = "taken at 09:05 by urgent-1" })},
			want: noticeLog{
				changes: []Status{preemptedStatus, func() Status { s := preemptedStatus; s.Message = "taken at 09:05 by urgent-1"; return s }()},
				notices: []Notice{preemptedNotice},
			},
		},
		{
			name: "a later end, then another session: a notice each",
			statuses: []v1alpha1.SharedSessionStatus{preempted,
				with(preempted, func(s *v1alpha1.SharedSessionStatus) { s.EndsAt = at(7) }),
				with(preempted, func(s *v1alpha1.SharedSessionStatus) { s.EndsAt, s.PreemptedBy = at(7), "urgent-2" })},
			want: noticeLog{
				changes: []Status{preemptedStatus,
					func() Status { s := preemptedStatus; s.EndsAt = at(7).Time; return s }(),
					func() Status { s := preemptedStatus; s.EndsAt, s.PreemptedBy = at(7).Time, "urgent-2"; return s }()},
				notices: []Notice{preemptedNotice,
					func() Notice { n := preemptedNotice; n.EndsAt = at(7).Time; return n }(),
					func() Notice { n := preemptedNotice; n.EndsAt, n.PreemptedBy = at(7).Time, "urgent-2"; return n }()},
			},
		},
		{
			name: "capacity reduced, lifted, given again: two notices",
			statuses: []v1alpha1.SharedSessionStatus{
				{Phase: v1alpha1.SessionActive, EndsAt: at(5), Message: "licences reduced to 1", Conditions: endingSoon(v1alpha1.EndCapacityReduced)},
				active,
				{Phase: v1alpha1.SessionActive, EndsAt: at(5), Message: "licences reduced to 1", Conditions: endingSoon(v1alpha1.EndCapacityReduced)},
			},
			want: noticeLog{
				changes: []Status{
					{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndCapacityReduced, Message: "licences reduced to 1", EndsAt: at(5).Time},
					{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted"},
					{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndCapacityReduced, Message: "licences reduced to 1", EndsAt: at(5).Time},
				},
				notices: []Notice{
					{Session: "run", EndsAt: at(5).Time, Reason: v1alpha1.EndCapacityReduced, Message: "licences reduced to 1"},
					{Session: "run", EndsAt: at(5).Time, Reason: v1alpha1.EndCapacityReduced, Message: "licences reduced to 1"},
				},
			},
		},
		{
			name:     "a notice without preemptedBy is for capacity",
			statuses: []v1alpha1.SharedSessionStatus{{Phase: v1alpha1.SessionActive, EndsAt: at(5)}},
			want: noticeLog{
				changes: []Status{{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndCapacityReduced, EndsAt: at(5).Time}},
				notices: []Notice{{Session: "run", EndsAt: at(5).Time, Reason: v1alpha1.EndCapacityReduced}},
			},
		},
		{
			name: "overdraft: reported while the condition is True",
			statuses: []v1alpha1.SharedSessionStatus{
				with(active, func(s *v1alpha1.SharedSessionStatus) { s.Conditions = overdraft }),
				with(active, func(s *v1alpha1.SharedSessionStatus) {
					s.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionFalse, Reason: "WithinLimit"}}
				}),
			},
			want: noticeLog{changes: []Status{
				{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted", Overdraft: true},
				{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted"},
			}},
		},
		{
			name: "preempted: the end is reported with its reason",
			statuses: []v1alpha1.SharedSessionStatus{preempted,
				{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndPreempted, Message: "session urgent-1 took the licence"}},
			want: noticeLog{
				changes: []Status{preemptedStatus,
					{Name: "run", Phase: v1alpha1.SessionEnded, Reason: v1alpha1.EndPreempted, Message: "session urgent-1 took the licence"}},
				notices: []Notice{preemptedNotice},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got noticeLog
			l := &Lease{granted: make(chan struct{}), cancel: func() {},
				onChange: func(s Status) { got.changes = append(got.changes, s) },
				onNotice: func(n Notice) { got.notices = append(got.notices, n) }}
			for _, st := range tt.statuses {
				l.observe(&v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Name: "run"}, Status: st})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(noticeLog{})); diff != "" {
				t.Errorf("callbacks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPreempted: through the API server, a lease under notice of preemption tells its user
// once, and its end is an *EndedError with reason Preempted.
func TestPreempted(t *testing.T) {
	c, watching := newWatchedFakeClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	notices := make(chan Notice, 4)
	lease, err := Acquire(ctx, c, Request{Namespace: "acme", Pool: "solver", Holder: "gina", Name: "run"},
		Options{HeartbeatInterval: time.Hour, OnNotice: func(n Notice) { notices <- n }})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-watching:
	case <-ctx.Done():
		t.Fatal("the lease did not watch its session")
	}
	setStatus := func(change func(*v1alpha1.SharedSessionStatus)) {
		t.Helper()
		s := &v1alpha1.SharedSession{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "acme", Name: "run"}, s); err != nil {
			t.Fatal(err)
		}
		change(&s.Status)
		if err := c.Status().Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(func(s *v1alpha1.SharedSessionStatus) { s.Phase = v1alpha1.SessionActive })
	if err := lease.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	ends := metav1.NewMicroTime(time.Date(2026, 12, 1, 9, 5, 0, 0, time.UTC))
	setStatus(func(s *v1alpha1.SharedSessionStatus) {
		s.EndsAt, s.PreemptedBy, s.Message = &ends, "urgent-1", "session urgent-1 takes this licence"
		s.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionEndingSoon, Status: metav1.ConditionTrue, Reason: "Preempted",
			Message: s.Message, LastTransitionTime: metav1.Now()}}
	})
	select {
	case n := <-notices:
		want := Notice{Session: "run", EndsAt: ends.Time, Reason: v1alpha1.EndPreempted, PreemptedBy: "urgent-1", Message: "session urgent-1 takes this licence"}
		if diff := cmp.Diff(want, n); diff != "" {
			t.Errorf("notice (-want +got):\n%s", diff)
		}
	case <-ctx.Done():
		t.Fatal("no notice")
	}
	if st := lease.Status(); st.PreemptedBy != "urgent-1" || !st.EndsAt.Equal(ends.Time) || st.Reason != v1alpha1.EndPreempted {
		t.Errorf("status under notice: %+v", st)
	}
	setStatus(func(s *v1alpha1.SharedSessionStatus) {
		s.Phase, s.EndReason, s.Message = v1alpha1.SessionEnded, v1alpha1.EndPreempted, "session urgent-1 took the licence"
		s.EndsAt, s.PreemptedBy, s.Conditions = nil, "", nil
	})
	select {
	case <-lease.Done():
	case <-ctx.Done():
		t.Fatal("the lease did not stop when the session ended")
	}
	var ended *EndedError
	if !errors.As(lease.Err(), &ended) || ended.Reason != v1alpha1.EndPreempted || ended.Message != "session urgent-1 took the licence" {
		t.Errorf("err = %v, want an *EndedError with reason Preempted", lease.Err())
	}
	if len(notices) != 0 {
		t.Errorf("%d more notices, want the one", len(notices))
	}
}
