package report

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestSpreadsheetSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"alice@acme.example": "alice@acme.example",
		"=HYPERLINK(\"x\")":  "'=HYPERLINK(\"x\")",
		"+1":                 "'+1",
		"-1":                 "'-1",
		"@sum":               "'@sum",
		"\tx":                "'\tx",
		"a=b":                "a=b",
	} {
		if got := SpreadsheetSafe(in); got != want {
			t.Errorf("SpreadsheetSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClockDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                "0:00:00",
		59 * time.Second: "0:00:59",
		time.Hour + 2*time.Minute + 3*time.Second: "1:02:03",
		30 * time.Hour:          "30:00:00",
		1500 * time.Millisecond: "0:00:01",
	} {
		if got := ClockDuration(d); got != want {
			t.Errorf("ClockDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFields(t *testing.T) {
	got := Fields("spec.poolName", "p", "spec.holder", "", "odd")
	if diff := cmp.Diff(client.MatchingFields{"spec.poolName": "p"}, got); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
}

// TestSessionCSV writes the log of an ended session with another time format: the columns stay
// those of `kubectl licenses sessions -o csv`, the times take the format, and end - start is the
// duration.
func TestSessionCSV(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 400e6, time.UTC)
	s := &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "s1"},
		Spec:       v1alpha1.SharedSessionSpec{PoolName: "p", Holder: "=evil", Peer: "c,1", Count: 2},
		Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndTerminated,
			GrantedAt: &metav1.MicroTime{Time: start}, EndedAt: &metav1.MicroTime{Time: start.Add(90 * time.Minute)}},
	}
	row := SessionRowOf(s, start.Add(5*time.Hour))
	var b strings.Builder
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&b, []SessionRow{row}, func(t time.Time) string { return t.In(paris).Format("02/01/2006 15:04:05") }); err != nil {
		t.Fatal(err)
	}
	want := "namespace,name,pool,holder,peer,state,phase,start,end,durationSeconds,duration,reason,queuePosition,message,licences,priority,notice,endsAt,preemptedBy,overdraft\r\n" +
		"acme,s1,p,'=evil,\"c,1\",Idle,Ended,01/12/2026 09:00:00,01/12/2026 10:30:00,5400,1:30:00,Terminated,,,2,0,,,,false\r\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}

// TestSessionNotice checks the policy columns of the log: the notice an Active session is
// under (its kind told by preemptedBy, whatever the EndingSoon condition says), when it ends,
// who preempts it, and whether it is in overdraft.
func TestSessionNotice(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	endsAt := &metav1.MicroTime{Time: now.Add(20*time.Second + 123456*time.Microsecond)}
	cond := func(typ, reason string, status metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: "m", LastTransitionTime: metav1.Time{Time: now}}
	}
	active := v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: &metav1.MicroTime{Time: now.Add(-time.Hour)}}
	with := func(f func(*v1alpha1.SharedSessionStatus)) v1alpha1.SharedSessionStatus {
		st := *active.DeepCopy()
		f(&st)
		return st
	}
	type policy struct {
		Notice, PreemptedBy string
		EndsAt              *time.Time
		Overdraft           bool
	}
	twenty := now.Add(20 * time.Second)
	tests := []struct {
		name   string
		status v1alpha1.SharedSessionStatus
		want   policy
	}{
		{"no notice", active, policy{}},
		{"capacity reduced", with(func(st *v1alpha1.SharedSessionStatus) {
			st.EndsAt = endsAt
			st.Conditions = []metav1.Condition{cond(v1alpha1.ConditionEndingSoon, "CapacityReduced", metav1.ConditionTrue)}
		}), policy{Notice: "CapacityReduced", EndsAt: &twenty}},
		{"preempted", with(func(st *v1alpha1.SharedSessionStatus) {
			st.EndsAt, st.PreemptedBy = endsAt, "urgent"
			st.Conditions = []metav1.Condition{cond(v1alpha1.ConditionEndingSoon, "Preempted", metav1.ConditionTrue)}
		}), policy{Notice: "Preempted", PreemptedBy: "urgent", EndsAt: &twenty}},
		{"preempted, without the condition", with(func(st *v1alpha1.SharedSessionStatus) {
			st.EndsAt, st.PreemptedBy = endsAt, "urgent"
		}), policy{Notice: "Preempted", PreemptedBy: "urgent", EndsAt: &twenty}},
		{"a notice without the condition", with(func(st *v1alpha1.SharedSessionStatus) {
			st.EndsAt = endsAt
		}), policy{Notice: "CapacityReduced", EndsAt: &twenty}},
		{"a condition that says Preempted, without preemptedBy", with(func(st *v1alpha1.SharedSessionStatus) {
			st.EndsAt = endsAt
			st.Conditions = []metav1.Condition{cond(v1alpha1.ConditionEndingSoon, "Preempted", metav1.ConditionTrue)}
		}), policy{Notice: "CapacityReduced", EndsAt: &twenty}},
		{"in overdraft", with(func(st *v1alpha1.SharedSessionStatus) {
			st.Conditions = []metav1.Condition{cond(v1alpha1.ConditionOverdraft, "Overdraft", metav1.ConditionTrue)}
		}), policy{Overdraft: true}},
		{"overdraft False", with(func(st *v1alpha1.SharedSessionStatus) {
			st.Conditions = []metav1.Condition{cond(v1alpha1.ConditionOverdraft, "Covered", metav1.ConditionFalse)}
		}), policy{}},
		{"ended: no notice, no overdraft", v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndPreempted,
			EndsAt: endsAt, PreemptedBy: "urgent", EndedAt: &metav1.MicroTime{Time: now},
			Conditions: []metav1.Condition{cond(v1alpha1.ConditionOverdraft, "Overdraft", metav1.ConditionTrue)}}, policy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "s"},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "p", Holder: "h", Priority: 5},
				Status:     tt.status,
			}
			r := SessionRowOf(s, now)
			got := policy{Notice: r.Notice, PreemptedBy: r.PreemptedBy, EndsAt: r.EndsAt, Overdraft: r.Overdraft}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("policy columns (-want +got):\n%s", diff)
			}
			if r.Priority != 5 {
				t.Errorf("priority %d, want 5", r.Priority)
			}
		})
	}
}
