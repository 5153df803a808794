package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestPoolConditions(t *testing.T) {
	pool := &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Generation: 4},
		Spec: v1alpha1.LicensePoolSpec{Product: "rs", ExpiresAt: mt(time.Hour)}}
	tests := []struct {
		name string
		res  allocator.Result
		want map[string]string // type → status/reason
	}{
		{"healthy", allocator.Result{Usage: allocator.Usage{SeatLimit: ptr.To[int32](2), SeatsBound: 1}},
			map[string]string{"Ready": "True/Reconciled", "Expired": "False/NotExpired", "ExpiringSoon": "False/NotExpiringSoon",
				"SeatsExhausted": "False/SeatsAvailable", "SessionsExhausted": "False/SessionsAvailable"}},
		{"full and expiring", allocator.Result{ExpiringSoon: true, Usage: allocator.Usage{SeatLimit: ptr.To[int32](2), SeatsBound: 2, SessionLimit: ptr.To[int32](0)}},
			map[string]string{"Ready": "True/Reconciled", "Expired": "False/NotExpired", "ExpiringSoon": "True/ExpiringSoon",
				"SeatsExhausted": "True/SeatsExhausted", "SessionsExhausted": "True/SessionsExhausted"}},
		{"expired", allocator.Result{Expired: true},
			map[string]string{"Ready": "False/Expired", "Expired": "True/Expired", "ExpiringSoon": "False/Expired",
				"SeatsExhausted": "False/SeatsAvailable", "SessionsExhausted": "False/SessionsAvailable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := poolStatus(pool, tc.res, orderCapacity{}, nil)
			got := map[string]string{}
			for _, c := range st.Conditions {
				got[c.Type] = string(c.Status) + "/" + c.Reason
				if c.ObservedGeneration != 4 || c.Message == "" {
					t.Errorf("condition %s: generation %d, message %q", c.Type, c.ObservedGeneration, c.Message)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if st.ObservedGeneration != 4 {
				t.Errorf("observedGeneration = %d", st.ObservedGeneration)
			}
		})
	}
}

func TestSeatStatus(t *testing.T) {
	seat := &v1alpha1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Status: v1alpha1.SeatAssignmentStatus{BoundAt: mt(0)}}
	tests := []struct {
		name        string
		res         allocator.SeatResult
		bound, read string // Bound and Ready as status/reason
	}{
		{"bound", allocator.SeatResult{Phase: v1alpha1.SeatBound, Reason: v1alpha1.SeatReasonGranted, Message: "holds", BoundAt: &t0},
			"True/SeatGranted", "True/SeatGranted"},
		{"waiting for a seat", allocator.SeatResult{Phase: v1alpha1.SeatPending, Reason: v1alpha1.SeatReasonLicensesNotAvailable, Message: "no seat free"},
			"False/LicensesNotAvailable", "False/LicensesNotAvailable"},
		{"switched off is as asked: Ready, not Bound", allocator.SeatResult{Phase: v1alpha1.SeatDisabled, Reason: v1alpha1.SeatReasonDisabled, Message: "off"},
			"False/Disabled", "True/Disabled"},
		{"no reason yet is written Unknown", allocator.SeatResult{Phase: v1alpha1.SeatPending},
			"False/Unknown", "False/Unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := seatStatus(seat, tc.res)
			got := func(typ string) string {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c.ObservedGeneration != 2 || c.Message != tc.res.Message {
					t.Errorf("%s: generation %d, message %q", typ, c.ObservedGeneration, c.Message)
				}
				return string(c.Status) + "/" + c.Reason
			}
			if b, r := got(v1alpha1.ConditionBound), got(v1alpha1.ConditionReady); b != tc.bound || r != tc.read {
				t.Errorf("Bound %s Ready %s, want %s and %s", b, r, tc.bound, tc.read)
			}
			if st.Phase != tc.res.Phase || st.ObservedGeneration != 2 {
				t.Errorf("phase %s observedGeneration %d", st.Phase, st.ObservedGeneration)
			}
		})
	}
	// The same instant keeps the cached object's time, so the status compares equal.
	st := seatStatus(seat, allocator.SeatResult{Phase: v1alpha1.SeatBound, BoundAt: &t0})
	if st.BoundAt != seat.Status.BoundAt {
		t.Error("an unchanged boundAt was replaced by a copy")
	}
}

func TestSessionStatus(t *testing.T) {
	sess := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Status: v1alpha1.SharedSessionStatus{RenewTime: micro(5 * time.Second), GrantedAt: micro(0)}}
	tests := []struct {
		name string
		res  allocator.SessionResult
		want string // Granted (and Ready) as status/reason
	}{
		{"active", allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"}, "True/Granted"},
		{"waiting", allocator.SessionResult{Phase: v1alpha1.SessionWaiting, QueuePosition: 2, Message: "position 2"}, "False/Waiting"},
		{"ended", allocator.SessionResult{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndHeartbeatExpired, EndedAt: &t0, Message: "no heartbeat"}, "False/HeartbeatExpired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := sessionStatus(sess, tc.res)
			for _, typ := range []string{v1alpha1.ConditionGranted, v1alpha1.ConditionReady} {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if got := string(c.Status) + "/" + c.Reason; got != tc.want || c.ObservedGeneration != 3 {
					t.Errorf("%s = %s (generation %d), want %s", typ, got, c.ObservedGeneration, tc.want)
				}
			}
			if st.RenewTime != sess.Status.RenewTime {
				t.Error("the holder's renewTime was not kept as it is")
			}
			if st.QueuePosition != tc.res.QueuePosition || st.EndReason != tc.res.EndReason || st.Message != tc.res.Message {
				t.Errorf("status %+v does not carry the result %+v", st, tc.res)
			}
		})
	}
}

func TestPoolStatusLedger(t *testing.T) {
	uids := holderUIDs{sessions: map[string]types.UID{"a": "uid-a"}}
	tests := []struct {
		name      string
		managedBy string
		old       *v1alpha1.Ledger
		res       allocator.Result
		want      *v1alpha1.Ledger
	}{
		{name: "unlimited: no ledger", res: allocator.Result{}, want: nil},
		{name: "sessions kept, with the cache's UIDs", res: allocator.Result{SessionLedger: []string{"a"}},
			want: &v1alpha1.Ledger{Sessions: &v1alpha1.Grants{Holders: []string{"a"}, UIDs: []types.UID{"uid-a"}, UIDsFor: v1alpha1.HoldersHash([]string{"a"})}}},
		{name: "another controller's ledger is left as it wrote it", managedBy: "example.com/other",
			old: &v1alpha1.Ledger{Seats: &v1alpha1.Grants{Holders: []string{"x"}}}, res: allocator.Result{SessionLedger: []string{"a"}},
			want: &v1alpha1.Ledger{Seats: &v1alpha1.Grants{Holders: []string{"x"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := &v1alpha1.LicensePool{Spec: v1alpha1.LicensePoolSpec{ManagedBy: tc.managedBy}, Status: v1alpha1.LicensePoolStatus{Ledger: tc.old}}
			if diff := cmp.Diff(tc.want, nextLedger(pool, tc.res, uids)); diff != "" {
				t.Errorf("ledger (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSessionStatusUnderNotice(t *testing.T) {
	sess := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	ends := t0.Add(5 * time.Minute)
	st := sessionStatus(sess, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, Message: "keeps this one until …"})
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon)
	if st.EndsAt == nil || !st.EndsAt.Time.Equal(ends) || c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(v1alpha1.EndCapacityReduced) {
		t.Fatalf("under notice: endsAt %v, EndingSoon %+v; want %v and True/CapacityReduced", st.EndsAt, c, ends)
	}
	sess.Status = st
	st = sessionStatus(sess, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"})
	if st.EndsAt != nil || meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon) != nil {
		t.Errorf("notice withdrawn: endsAt %v, conditions %v; want neither", st.EndsAt, st.Conditions)
	}
}
