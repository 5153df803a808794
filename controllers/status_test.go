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
			st := sessionStatus(sess, tc.res, allocator.Usage{})
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
	st := sessionStatus(sess, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, EndsAt: &ends, Message: "keeps this one until …"}, allocator.Usage{})
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon)
	if st.EndsAt == nil || !st.EndsAt.Time.Equal(ends) || c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(v1alpha1.EndCapacityReduced) {
		t.Fatalf("under notice: endsAt %v, EndingSoon %+v; want %v and True/CapacityReduced", st.EndsAt, c, ends)
	}
	sess.Status = st
	st = sessionStatus(sess, allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"}, allocator.Usage{})
	if st.EndsAt != nil || meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon) != nil {
		t.Errorf("notice withdrawn: endsAt %v, conditions %v; want neither", st.EndsAt, st.Conditions)
	}
}

// condOf renders a condition as status/reason ("" when absent).
func condOf(conds []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func TestSessionStatusPolicies(t *testing.T) {
	ends := t0.Add(30 * time.Second)
	usage := allocator.Usage{SessionLimit: ptr.To[int32](10), Overdraft: 2}
	active := func(change func(*allocator.SessionResult)) allocator.SessionResult {
		r := allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"}
		change(&r)
		return r
	}
	// noticed is a session under notice of preemption, in overdraft, as the operator wrote it.
	noticed := func(s *v1alpha1.SharedSession) {
		s.Status = sessionStatus(s, active(func(r *allocator.SessionResult) {
			r.EndsAt, r.PreemptedBy, r.Overdraft = &ends, "urgent", true
		}), usage)
	}
	tests := []struct {
		name         string
		before       func(*v1alpha1.SharedSession) // the status the session had; nil: none
		count        int32
		res          allocator.SessionResult
		preemptedBy  string
		endingSoon   string // EndingSoon as status/reason, "" when absent
		overdraft    string // Overdraft likewise
		overdraftMsg string
		usage        *allocator.Usage // nil: a limit of 10 and 2 allowed beyond it
	}{
		{name: "a capacity notice: CapacityReduced, no preemptor",
			res:        active(func(r *allocator.SessionResult) { r.EndsAt, r.Message = &ends, "the limit dropped" }),
			endingSoon: "True/CapacityReduced"},
		{name: "a notice of preemption: the preemptor, reason Preempted",
			res: active(func(r *allocator.SessionResult) {
				r.EndsAt, r.PreemptedBy, r.Message = &ends, "urgent", "urgent takes it"
			}),
			preemptedBy: "urgent", endingSoon: "True/Preempted"},
		{name: "a preemptor without a notice is not written: the API needs endsAt with it",
			res: active(func(r *allocator.SessionResult) { r.PreemptedBy = "urgent" })},
		{name: "the notice withdrawn: preemptor and EndingSoon go",
			before: noticed, res: active(func(*allocator.SessionResult) {})},
		{name: "beyond the limit: Overdraft, and the limit and overdraft in its message",
			res:       active(func(r *allocator.SessionResult) { r.Overdraft = true }),
			overdraft: "True/Overdraft", overdraftMsg: "holds a licence beyond pool p's limit of 10 (overdraft: 2 allowed)"},
		{name: "several licences beyond the limit",
			count: 3, res: active(func(r *allocator.SessionResult) { r.Overdraft = true }),
			overdraft: "True/Overdraft", overdraftMsg: "holds licences beyond pool p's limit of 10 (overdraft: 2 allowed)"},
		{name: "beyond a limit that dropped, in a pool without overdraft: under notice, and beyond the limit",
			res:        active(func(r *allocator.SessionResult) { r.EndsAt, r.Overdraft, r.Message = &ends, true, "the limit dropped" }),
			endingSoon: "True/CapacityReduced", overdraft: "True/Overdraft", overdraftMsg: "holds a licence beyond pool p's limit of 10, which allows no overdraft",
			usage: &allocator.Usage{SessionLimit: ptr.To[int32](10)}},
		{name: "covered again: Overdraft goes",
			before: noticed, res: active(func(r *allocator.SessionResult) { r.EndsAt, r.PreemptedBy = &ends, "urgent" }),
			preemptedBy: "urgent", endingSoon: "True/Preempted"},
		{name: "ended in preemption: neither notice nor overdraft stays",
			before: noticed, res: allocator.SessionResult{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndPreempted, EndedAt: &ends, Message: "urgent took it", Overdraft: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess := testSession("a", "p")
			sess.Generation, sess.Spec.Count = 2, tc.count
			if tc.before != nil {
				tc.before(sess)
			}
			u := usage
			if tc.usage != nil {
				u = *tc.usage
			}
			st := sessionStatus(sess, tc.res, u)
			if st.PreemptedBy != tc.preemptedBy {
				t.Errorf("preemptedBy = %q, want %q", st.PreemptedBy, tc.preemptedBy)
			}
			if got := condOf(st.Conditions, v1alpha1.ConditionEndingSoon); got != tc.endingSoon {
				t.Errorf("EndingSoon = %q, want %q", got, tc.endingSoon)
			} else if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionEndingSoon); c != nil && c.Message != tc.res.Message {
				t.Errorf("EndingSoon's message = %q, want the result's, %q", c.Message, tc.res.Message)
			}
			if got := condOf(st.Conditions, v1alpha1.ConditionOverdraft); got != tc.overdraft {
				t.Errorf("Overdraft = %q, want %q", got, tc.overdraft)
			} else if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionOverdraft); c != nil && (c.Message != tc.overdraftMsg || c.ObservedGeneration != 2) {
				t.Errorf("Overdraft: message %q generation %d, want %q and 2", c.Message, c.ObservedGeneration, tc.overdraftMsg)
			}
		})
	}
}

// A change of nothing but the preemptor or the overdraft is a change the operator writes.
func TestPlanSessionWritesPolicyChanges(t *testing.T) {
	ends := t0.Add(30 * time.Second)
	usage := allocator.Usage{SessionLimit: ptr.To[int32](1), Overdraft: 1}
	holds := allocator.SessionResult{Phase: v1alpha1.SessionActive, GrantedAt: &t0, Message: "holds"}
	with := func(f func(*allocator.SessionResult)) allocator.SessionResult { r := holds; f(&r); return r }
	tests := []struct {
		name     string
		was, res allocator.SessionResult
		want     string // where the write goes: "none", "checked" or "other"
	}{
		{"nothing changed", holds, holds, "none"},
		{"now beyond the limit", holds, with(func(r *allocator.SessionResult) { r.Overdraft = true }), "other"},
		{"covered again", with(func(r *allocator.SessionResult) { r.Overdraft = true }), holds, "other"},
		{"a capacity notice turned into a preemption", with(func(r *allocator.SessionResult) { r.EndsAt = &ends }),
			with(func(r *allocator.SessionResult) { r.EndsAt, r.PreemptedBy = &ends, "urgent" }), "checked"},
		{"another session preempts", with(func(r *allocator.SessionResult) { r.EndsAt, r.PreemptedBy = &ends, "urgent" }),
			with(func(r *allocator.SessionResult) { r.EndsAt, r.PreemptedBy = &ends, "urgent-2" }), "checked"},
		{"a notice of preemption, given", holds,
			with(func(r *allocator.SessionResult) {
				r.EndsAt, r.PreemptedBy, r.Transition = &ends, "urgent", allocator.SessionNoticed
			}), "checked"},
		{"a notice of preemption, withdrawn", with(func(r *allocator.SessionResult) { r.EndsAt, r.PreemptedBy = &ends, "urgent" }), holds, "checked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := activeSession("a", "p")
			s.Status = sessionStatus(s, tc.was, usage)
			var p writePlan
			planSession(&p, s, tc.res, usage, t0, func(types.UID) (time.Time, bool) { return t0, true })
			got := "none"
			switch {
			case len(p.checked) == 1:
				got = "checked"
			case len(p.other) == 1:
				got = "other"
			}
			if n := len(p.checked) + len(p.other) + len(p.revoke) + len(p.head) + len(p.tail); got != tc.want || n > 1 {
				t.Fatalf("the write goes to %s (%d writes), want %s", got, n, tc.want)
			}
			if got == "none" {
				return
			}
			w := append(p.checked, p.other...)[0]
			next := w.next.(*v1alpha1.SharedSession).Status
			if next.PreemptedBy != tc.res.PreemptedBy || (condOf(next.Conditions, v1alpha1.ConditionOverdraft) != "") != tc.res.Overdraft {
				t.Errorf("written: preemptedBy %q, conditions %v; want the result %+v", next.PreemptedBy, next.Conditions, tc.res)
			}
		})
	}
}

func TestPoolStatusPolicies(t *testing.T) {
	limit := ptr.To[int32](10)
	groups := []v1alpha1.HolderGroup{
		{Name: "cfd-team", Members: []string{"*@cfd.acme.example"}, ReservedSessions: ptr.To[int32](4), MaxSessions: ptr.To[int32](6)},
		{Name: "batch", Members: []string{"sim-batch-*"}, MaxSeats: ptr.To[int32](2)},
	}
	usage := allocator.Usage{SessionLimit: limit, SessionsActive: 12, Waiting: 3, SessionsOverdraft: 2, Overdraft: 3, Reserved: 4,
		Groups: []allocator.GroupUsage{
			{Name: "cfd-team", Reserved: 4, MaxSessions: ptr.To[int32](6), SessionsActive: 6, SessionsWaiting: 2},
			{Name: "batch", MaxSeats: ptr.To[int32](2), SeatsBound: 1, SessionsWaiting: 1},
		}}
	tests := []struct {
		name    string
		spec    v1alpha1.LicensePoolSpec
		before  []metav1.Condition // the pool's conditions before the pass
		res     allocator.Result
		want    v1alpha1.SessionUsage // overdraft and reserved only
		groups  []v1alpha1.GroupUsage
		conds   map[string]string // Overdraft and ReservationsFit as status/reason, "" when absent
		message map[string]string // their messages, where the case checks them
	}{
		{name: "no policies: no groups, no conditions for them", spec: v1alpha1.LicensePoolSpec{ConcurrentSessions: limit},
			res:   allocator.Result{Usage: allocator.Usage{SessionLimit: limit, SessionsActive: 3}},
			conds: map[string]string{"Overdraft": "", "ReservationsFit": ""}},
		{name: "in overdraft, with groups that fit",
			spec: v1alpha1.LicensePoolSpec{ConcurrentSessions: limit, OverdraftSessions: ptr.To[int32](3), Groups: groups},
			res:  allocator.Result{Usage: usage, ReservationsFit: true},
			want: v1alpha1.SessionUsage{Overdraft: 2, Reserved: 4},
			groups: []v1alpha1.GroupUsage{
				{Name: "cfd-team", SessionsActive: 6, SessionsWaiting: 2, ReservedSessions: 4, MaxSessions: ptr.To[int32](6)},
				{Name: "batch", SessionsWaiting: 1, SeatsBound: 1, MaxSeats: ptr.To[int32](2)},
			},
			conds: map[string]string{"Overdraft": "True/Overdraft", "ReservationsFit": "True/ReservationsFit"},
			message: map[string]string{
				"Overdraft":       "2 shared licences in use beyond the limit of 10 (overdraft: 3 allowed): the sessions holding them carry the condition Overdraft, and are covered first as licences free up",
				"ReservationsFit": "the groups reserve 4 of the 10 shared licences",
				"Ready":           "0/∞ seats bound, 12/10 shared licences in use (2 in overdraft), 3 waiting",
			}},
		{name: "overdraft allowed, not used: False",
			spec:    v1alpha1.LicensePoolSpec{ConcurrentSessions: limit, OverdraftSessions: ptr.To[int32](3)},
			res:     allocator.Result{Usage: allocator.Usage{SessionLimit: limit, SessionsActive: 10, Overdraft: 3}},
			conds:   map[string]string{"Overdraft": "False/WithinLimit", "ReservationsFit": ""},
			message: map[string]string{"Overdraft": "no shared licence in use beyond the limit of 10; up to 3 more may be granted when every licence is in use"}},
		{name: "reservations that do not fit: False, with the allocator's message",
			spec:    v1alpha1.LicensePoolSpec{ConcurrentSessions: limit, Groups: groups},
			res:     allocator.Result{Usage: allocator.Usage{SessionLimit: limit, Reserved: 4}, ReservationsMessage: "cfd-team's reservation of 4 is cut to 2"},
			want:    v1alpha1.SessionUsage{Reserved: 4},
			conds:   map[string]string{"Overdraft": "", "ReservationsFit": "False/ReservationsExceedLimit"},
			message: map[string]string{"ReservationsFit": "cfd-team's reservation of 4 is cut to 2"}},
		{name: "groups that reserve nothing: no ReservationsFit",
			spec:   v1alpha1.LicensePoolSpec{ConcurrentSessions: limit, Groups: groups[1:]},
			res:    allocator.Result{Usage: allocator.Usage{SessionLimit: limit, Groups: usage.Groups[1:]}},
			groups: []v1alpha1.GroupUsage{{Name: "batch", SessionsWaiting: 1, SeatsBound: 1, MaxSeats: ptr.To[int32](2)}},
			conds:  map[string]string{"Overdraft": "", "ReservationsFit": ""}},
		{name: "overdraft and groups taken out of the spec: their conditions go",
			spec: v1alpha1.LicensePoolSpec{ConcurrentSessions: limit},
			before: []metav1.Condition{
				{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonOverdraft, Message: "m"},
				{Type: v1alpha1.ConditionReservationsFit, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReservationsFit, Message: "m"},
			},
			res:   allocator.Result{Usage: allocator.Usage{SessionLimit: limit, SessionsActive: 3}},
			conds: map[string]string{"Overdraft": "", "ReservationsFit": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := &v1alpha1.LicensePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 5}, Spec: tc.spec,
				Status: v1alpha1.LicensePoolStatus{Conditions: tc.before}}
			st := poolStatus(pool, tc.res, orderCapacity{}, nil)
			if got := (v1alpha1.SessionUsage{Overdraft: st.Sessions.Overdraft, Reserved: st.Sessions.Reserved}); got != tc.want {
				t.Errorf("sessions: overdraft %d reserved %d, want %d and %d", got.Overdraft, got.Reserved, tc.want.Overdraft, tc.want.Reserved)
			}
			// cmp tells nil (no groups: the field is left out) from an empty list.
			if diff := cmp.Diff(tc.groups, st.Groups); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			for typ, want := range tc.conds {
				if got := condOf(st.Conditions, typ); got != want {
					t.Errorf("%s = %q, want %q", typ, got, want)
				}
			}
			for typ, want := range tc.message {
				if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.Message != want || c.ObservedGeneration != 5 {
					t.Errorf("%s: %+v, want message %q at generation 5", typ, c, want)
				}
			}
		})
	}
}
