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
	want := "namespace,name,pool,holder,peer,state,phase,start,end,durationSeconds,duration,reason,queuePosition,message,licences\r\n" +
		"acme,s1,p,'=evil,\"c,1\",Idle,Ended,01/12/2026 09:00:00,01/12/2026 10:30:00,5400,1:30:00,Terminated,,,2\r\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}
