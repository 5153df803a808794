package portal

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestParseSessionFilter(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		query  string
		loc    *time.Location
		want   sessionFilter
		values map[string]string
	}{
		{name: "empty", query: "", loc: time.UTC, want: sessionFilter{}, values: map[string]string{}},
		{
			name:   "pool, holder and phase",
			query:  "pool=remote&holder=alice%40acme.example&phase=Active",
			loc:    time.UTC,
			want:   sessionFilter{Pool: "remote", Holder: "alice@acme.example", Phase: "Active"},
			values: map[string]string{"pool": "remote", "holder": "alice@acme.example", "phase": "Active"},
		},
		{name: "Waiting", query: "phase=Waiting", loc: time.UTC, want: sessionFilter{Phase: "Waiting"}, values: map[string]string{"phase": "Waiting"}},
		{name: "Ended", query: "phase=Ended", loc: time.UTC, want: sessionFilter{Phase: "Ended"}, values: map[string]string{"phase": "Ended"}},
		{name: "an unknown phase is dropped", query: "phase=Bogus&pool=p", loc: time.UTC, want: sessionFilter{Pool: "p"}, values: map[string]string{"pool": "p"}},
		{name: "a phase in lower case is dropped", query: "phase=active", loc: time.UTC, want: sessionFilter{}, values: map[string]string{}},
		{
			name:  "datetime-local in the viewer's zone",
			query: "from=2026-12-01T09:30&to=2026-12-02T18:00:30",
			loc:   rome,
			want: sessionFilter{From: "2026-12-01T09:30", To: "2026-12-02T18:00:30",
				from: time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC), to: time.Date(2026, 12, 2, 17, 0, 30, 0, time.UTC)},
			values: map[string]string{"from": "2026-12-01T09:30", "to": "2026-12-02T18:00:30"},
		},
		{
			name:   "a date alone",
			query:  "from=2026-07-01",
			loc:    rome,
			want:   sessionFilter{From: "2026-07-01", from: time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)},
			values: map[string]string{"from": "2026-07-01"},
		},
		{
			name:   "UTC",
			query:  "to=2026-12-01T09:30",
			loc:    time.UTC,
			want:   sessionFilter{To: "2026-12-01T09:30", to: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)},
			values: map[string]string{"to": "2026-12-01T09:30"},
		},
		{
			name:   "bad times are dropped",
			query:  "from=yesterday&to=2026-13-01T00:00&holder=h",
			loc:    rome,
			want:   sessionFilter{Holder: "h"},
			values: map[string]string{"holder": "h"},
		},
		{name: "RFC 3339 is no datetime-local", query: "from=2026-12-01T09:30:00Z", loc: time.UTC, want: sessionFilter{}, values: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got := parseSessionFilter(v, tt.loc)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(sessionFilter{})); diff != "" {
				t.Errorf("parseSessionFilter(%q) (-want +got):\n%s", tt.query, diff)
			}
			if diff := cmp.Diff(tt.values, got.Values()); diff != "" {
				t.Errorf("Values() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSessionFilterMatches(t *testing.T) {
	now := minute(120)
	active := sessionView{Name: "a", Pool: "remote", Holder: "alice", Phase: "Active", Created: minute(10), Start: minute(10)}
	ended := sessionView{Name: "e", Pool: "remote", Holder: "bob", Phase: "Ended", Created: minute(9), Start: minute(10), End: minute(20)}
	// Waited from 5, granted at 30: its time in the log is from the grant.
	waited := sessionView{Name: "w", Pool: "remote", Holder: "carol", Phase: "Ended", Created: minute(5), Start: minute(30), End: minute(40)}
	waiting := sessionView{Name: "q", Pool: "cad", Holder: "dave", Phase: "Waiting", Created: minute(50)}
	refused := sessionView{Name: "r", Pool: "cad", Holder: "erin", Phase: "Ended", Created: minute(60), End: minute(60)}
	between := func(from, to int) sessionFilter { return sessionFilter{from: minute(from), to: minute(to)} }
	tests := []struct {
		name    string
		filter  sessionFilter
		session sessionView
		want    bool
	}{
		{name: "no filter", filter: sessionFilter{}, session: active, want: true},
		{name: "pool", filter: sessionFilter{Pool: "remote"}, session: active, want: true},
		{name: "other pool", filter: sessionFilter{Pool: "cad"}, session: active, want: false},
		{name: "holder", filter: sessionFilter{Holder: "alice"}, session: active, want: true},
		{name: "holder is exact", filter: sessionFilter{Holder: "ali"}, session: active, want: false},
		{name: "phase", filter: sessionFilter{Phase: "Active"}, session: active, want: true},
		{name: "other phase", filter: sessionFilter{Phase: "Ended"}, session: active, want: false},
		{name: "all three", filter: sessionFilter{Pool: "cad", Holder: "dave", Phase: "Waiting"}, session: waiting, want: true},

		{name: "active: runs until now", filter: between(100, 110), session: active, want: true},
		{name: "active: until now, not after", filter: between(121, 130), session: active, want: false},
		{name: "active: touches now", filter: between(120, 130), session: active, want: true},
		{name: "active: from only, before now", filter: sessionFilter{from: minute(119)}, session: active, want: true},
		{name: "active: to before its start", filter: sessionFilter{to: minute(9)}, session: active, want: false},
		{name: "active: to at its start", filter: sessionFilter{to: minute(10)}, session: active, want: true},

		{name: "ended: inside", filter: between(12, 15), session: ended, want: true},
		{name: "ended: covering", filter: between(0, 60), session: ended, want: true},
		{name: "ended: range starts at its end", filter: between(20, 30), session: ended, want: true},
		{name: "ended: range after its end", filter: between(21, 30), session: ended, want: false},
		{name: "ended: range ends at its start", filter: between(0, 10), session: ended, want: true},
		{name: "ended: range before its start", filter: between(0, 9), session: ended, want: false},
		{name: "ended: created in range, granted after", filter: between(9, 9), session: ended, want: false},

		{name: "waited: from the grant, not the creation", filter: between(0, 20), session: waited, want: false},
		{name: "waited: overlaps its use", filter: between(35, 50), session: waited, want: true},

		{name: "waiting: from its creation until now", filter: between(100, 110), session: waiting, want: true},
		{name: "waiting: range before its creation", filter: between(0, 40), session: waiting, want: false},
		{name: "waiting: range at its creation", filter: between(40, 50), session: waiting, want: true},

		{name: "refused: an instant, in range", filter: between(59, 61), session: refused, want: true},
		{name: "refused: an instant, out of range", filter: between(61, 70), session: refused, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.matches(tt.session, now); got != tt.want {
				t.Errorf("matches(%s) = %t, want %t", tt.session.Name, got, tt.want)
			}
		})
	}
}

func TestSessionViewOf(t *testing.T) {
	now := minute(60).Add(400 * time.Millisecond)
	created := minute(0).Add(300 * time.Millisecond)
	tests := []struct {
		name    string
		session v1alpha1.SharedSession
		want    sessionView
	}{
		{
			name: "active: the duration runs until now",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "acme", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "alice", Peer: "customer-42", State: v1alpha1.SessionConnected},
				Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: micro(minute(1).Add(700 * time.Millisecond)),
					Message: "in use"},
			},
			want: sessionView{Name: "s1", Pool: "remote", Holder: "alice", Peer: "customer-42", State: "Connected", Phase: "Active",
				Message: "in use", Licences: 1, Created: created, Start: minute(1), Duration: 59 * time.Minute, HasDuration: true},
		},
		{
			name: "active and being ended",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s2", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "bob", Terminate: true},
				Status:     v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: micro(minute(30))},
			},
			want: sessionView{Name: "s2", Pool: "remote", Holder: "bob", State: "Idle", Phase: "Active", Licences: 1, Created: created,
				Start: minute(30), Duration: 30 * time.Minute, HasDuration: true, Ending: true},
		},
		{
			name: "waiting for three licences: its place in the queue, no duration",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s3", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "carol", Count: 3},
				Status:     v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionWaiting, QueuePosition: 3, Message: "3rd in line"},
			},
			want: sessionView{Name: "s3", Pool: "remote", Holder: "carol", State: "Idle", Phase: "Waiting", Message: "3rd in line",
				Position: 3, Licences: 3, Created: created},
		},
		{
			name: "ended: from the grant to the end",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s4", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "dave", Terminate: true},
				Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, GrantedAt: micro(minute(1)), EndedAt: micro(minute(31).Add(900 * time.Millisecond)),
					EndReason: v1alpha1.EndTerminated, QueuePosition: 2},
			},
			want: sessionView{Name: "s4", Pool: "remote", Holder: "dave", State: "Idle", Phase: "Ended", Reason: "Terminated", Licences: 1,
				Created: created, Start: minute(1), End: minute(31), Duration: 30 * time.Minute, HasDuration: true},
		},
		{
			name: "ended without a licence: no start, no duration",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s5", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "erin"},
				Status:     v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, EndedAt: micro(minute(0)), EndReason: v1alpha1.EndRejected},
			},
			want: sessionView{Name: "s5", Pool: "remote", Holder: "erin", State: "Idle", Phase: "Ended", Reason: "Rejected", Licences: 1,
				Created: created, End: minute(0)},
		},
		{
			name: "under notice of preemption, on an overdraft licence",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s6", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "frank"},
				Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: micro(minute(30)),
					EndsAt: micro(minute(61)), PreemptedBy: "urgent-1", Message: "session urgent-1 takes this licence",
					Conditions: []metav1.Condition{
						{Type: v1alpha1.ConditionEndingSoon, Status: metav1.ConditionTrue, Reason: "Preempted"},
						{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionTrue, Reason: "Overdraft"},
					}},
			},
			want: sessionView{Name: "s6", Pool: "remote", Holder: "frank", State: "Idle", Phase: "Active", Message: "session urgent-1 takes this licence",
				Licences: 1, Created: created, Start: minute(30), Duration: 30 * time.Minute, HasDuration: true,
				EndsAt: minute(61), PreemptedBy: "urgent-1", Overdraft: true},
		},
		{
			name: "under notice: the licences were reduced",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s7", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "gina"},
				Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionActive, GrantedAt: micro(minute(30)), EndsAt: micro(minute(61)),
					Conditions: []metav1.Condition{
						{Type: v1alpha1.ConditionEndingSoon, Status: metav1.ConditionTrue, Reason: "CapacityReduced"},
						{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionFalse, Reason: "WithinLimit"},
					}},
			},
			want: sessionView{Name: "s7", Pool: "remote", Holder: "gina", State: "Idle", Phase: "Active", Licences: 1, Created: created,
				Start: minute(30), Duration: 30 * time.Minute, HasDuration: true, EndsAt: minute(61)},
		},
		{
			name: "preempted and ended: the reason, no notice",
			session: v1alpha1.SharedSession{
				ObjectMeta: metav1.ObjectMeta{Name: "s8", CreationTimestamp: metav1.NewTime(created)},
				Spec:       v1alpha1.SharedSessionSpec{PoolName: "remote", Holder: "hal"},
				Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionEnded, GrantedAt: micro(minute(1)), EndedAt: micro(minute(31)),
					EndReason:  v1alpha1.EndPreempted,
					Conditions: []metav1.Condition{{Type: v1alpha1.ConditionOverdraft, Status: metav1.ConditionTrue, Reason: "Overdraft"}}},
			},
			want: sessionView{Name: "s8", Pool: "remote", Holder: "hal", State: "Idle", Phase: "Ended", Reason: "Preempted", Licences: 1,
				Created: created, Start: minute(1), End: minute(31), Duration: 30 * time.Minute, HasDuration: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sessionViewOf(&tt.session, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sessionViewOf (-want +got):\n%s", diff)
			}
		})
	}
}

// TestActiveSessionsNotice: the sessions in use show, in the viewer's language, when a session
// under notice ends and why, and mark those that hold licences beyond the limit.
func TestActiveSessionsNotice(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	active := []sessionView{
		{Name: "s-pre", Holder: "frank", State: "Idle", Phase: "Active", Licences: 1, EndsAt: minute(61), PreemptedBy: "urgent-1"},
		{Name: "s-cap", Holder: "gina", State: "Idle", Phase: "Active", Licences: 2, EndsAt: minute(61), Overdraft: true},
		{Name: "s-plain", Holder: "hal", State: "Idle", Phase: "Active", Licences: 1},
	}
	tests := []struct {
		lang string
		want map[string][]string // session → what its row shows
	}{
		{lang: "en", want: map[string][]string{
			"s-pre": {minuteIn("en", 61), "preempted by session urgent-1"},
			"s-cap": {minuteIn("en", 61), "licences reduced", ">overdraft<"},
		}},
		{lang: "fr", want: map[string][]string{
			"s-pre": {minuteIn("fr", 61), "préemptée par la session urgent-1"},
			"s-cap": {minuteIn("fr", 61), "nombre de licences réduit", ">dépassement<"},
		}},
		{lang: "it", want: map[string][]string{
			"s-pre": {minuteIn("it", 61), "prelazione a favore della sessione urgent-1"},
			"s-cap": {minuteIn("it", 61), "numero di licenze ridotto", ">eccedenza<"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			q := &req{lang: tt.lang, loc: time.UTC, r: httptest.NewRequest(http.MethodGet, "/ns/acme/sessions", nil), v: &Viewer{}}
			p := &page{req: q, template: "sessions", NS: "acme", Data: &sessionsData{Active: active}}
			var buf bytes.Buffer
			if err := pages.execute("sessions", "live-now", &buf, p); err != nil {
				t.Fatal(err)
			}
			rows := rowsOf(buf.String())
			if !strings.Contains(buf.String(), ">"+translate(tt.lang, "log.endsat")+"<") {
				t.Errorf("no column %q", translate(tt.lang, "log.endsat"))
			}
			for name, wants := range tt.want {
				for _, w := range wants {
					if !strings.Contains(rows[name], w) {
						t.Errorf("row of %s lacks %q:\n%s", name, w, rows[name])
					}
				}
			}
			for _, w := range []string{"badge", minuteIn(tt.lang, 61)} {
				if strings.Contains(rows["s-plain"], w) {
					t.Errorf("the row of a session under no notice shows %q:\n%s", w, rows["s-plain"])
				}
			}
			if strings.Contains(rows["s-pre"], translate(tt.lang, "sessions.overdraft")+"<") {
				t.Errorf("a session within the limit is marked overdraft:\n%s", rows["s-pre"])
			}
		})
	}
}

func minuteIn(lang string, m int) string { return minute(m).UTC().Format(dateLayouts[lang]) }

// rowsOf splits a table's HTML into its rows, by their data-session.
func rowsOf(html string) map[string]string {
	rows := map[string]string{}
	for _, part := range strings.Split(html, "<tr data-session=\"")[1:] {
		name, rest, _ := strings.Cut(part, "\"")
		row, _, _ := strings.Cut(rest, "</tr>")
		rows[name] = row
	}
	return rows
}
