package portal

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// t0 is the start of the charts' window in these tests.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

func micro(t time.Time) *metav1.MicroTime { return &metav1.MicroTime{Time: t} }

// chartSession is a session of the chart's tests: created at created, granted and ended when
// those are not zero.
type chartSession struct {
	name, pool, holder string
	created            time.Time
	phase              v1alpha1.SessionPhase
	granted, ended     time.Time
	reason             v1alpha1.EndReason
}

func (c chartSession) object() v1alpha1.SharedSession {
	s := v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: c.name, CreationTimestamp: metav1.NewTime(c.created)},
		Spec:       v1alpha1.SharedSessionSpec{PoolName: c.pool, Holder: c.holder},
		Status:     v1alpha1.SharedSessionStatus{Phase: c.phase, EndReason: c.reason},
	}
	if s.Spec.PoolName == "" {
		s.Spec.PoolName = "remote"
	}
	if s.Spec.Holder == "" {
		s.Spec.Holder = c.name
	}
	if !c.granted.IsZero() {
		s.Status.GrantedAt = micro(c.granted)
	}
	if !c.ended.IsZero() {
		s.Status.EndedAt = micro(c.ended)
	}
	return s
}

// stillActive is the end of a session that has not ended.
const stillActive = 1 << 30

// used is a session granted at its creation, from minute from to minute to (or stillActive).
func used(name, holder string, from, to int) chartSession {
	s := chartSession{name: name, holder: holder, created: minute(from), granted: minute(from), phase: v1alpha1.SessionActive}
	if to != stillActive {
		s.ended, s.phase, s.reason = minute(to), v1alpha1.SessionEnded, v1alpha1.EndTerminated
	}
	return s
}

func int32p(n int32) *int32 { return &n }

func TestUsageOverTime(t *testing.T) {
	from, to := minute(0), minute(60)
	tests := []struct {
		name     string
		sessions []chartSession
		countBy  v1alpha1.CountBy
		limit    *int32
		want     usageChart
	}{
		{
			name:     "no session",
			limit:    int32p(2),
			want:     usageChart{Steps: []usageStep{{minute(0), 0}}, PeakAt: minute(0), Limit: int32p(2)},
			sessions: nil,
		},
		{
			name:     "overlapping sessions",
			sessions: []chartSession{used("a", "", 10, 30), used("b", "", 20, 40), used("c", "", 25, stillActive)},
			limit:    int32p(3),
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(20), 2}, {minute(25), 3}, {minute(30), 2}, {minute(40), 1}},
				Peak:  3, PeakAt: minute(25), Limit: int32p(3),
			},
		},
		{
			name:     "the peak is when it is first reached",
			sessions: []chartSession{used("a", "", 10, 20), used("b", "", 30, 40)},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(20), 0}, {minute(30), 1}, {minute(40), 0}},
				Peak:  1, PeakAt: minute(10),
			},
		},
		{
			name: "granted before the window: counted at its start",
			sessions: []chartSession{
				used("a", "", -30, stillActive),
				used("b", "", -20, 15),
				used("gone", "", -50, -40), // ended before the window: not counted
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 2}, {minute(15), 1}},
				Peak:  2, PeakAt: minute(0),
			},
		},
		{
			name: "sessions of another pool are ignored",
			sessions: []chartSession{
				used("a", "", 10, 30),
				func() chartSession { s := used("b", "", 5, 50); s.pool = "other"; return s }(),
				{name: "c", pool: "other", created: minute(20), phase: v1alpha1.SessionWaiting},
				{name: "d", pool: "other", created: minute(21), ended: minute(21), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndRejected},
			},
			want: usageChart{Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(30), 0}}, Peak: 1, PeakAt: minute(10)},
		},
		{
			name:    "by holder: one holder's sessions count once",
			countBy: v1alpha1.CountByHolder,
			sessions: []chartSession{
				used("a1", "alice", 10, 40),
				used("a2", "alice", 20, 30),
				used("b1", "bob", 25, 35),
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(20), 1}, {minute(25), 2}, {minute(30), 2}, {minute(35), 1}, {minute(40), 0}},
				Peak:  2, PeakAt: minute(25),
			},
		},
		{
			name:    "by session: the same sessions count each",
			countBy: v1alpha1.CountBySession,
			sessions: []chartSession{
				used("a1", "alice", 10, 40),
				used("a2", "alice", 20, 30),
				used("b1", "bob", 25, 35),
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(20), 2}, {minute(25), 3}, {minute(30), 2}, {minute(35), 1}, {minute(40), 0}},
				Peak:  3, PeakAt: minute(25),
			},
		},
		{
			name: "a grant more than a second after creation was a wait, at the creation",
			sessions: []chartSession{
				{name: "late", created: minute(10), granted: minute(10).Add(5 * time.Second), phase: v1alpha1.SessionActive},
				{name: "on-time", created: minute(20), granted: minute(20).Add(time.Second), phase: v1alpha1.SessionActive},
				{name: "queued", created: minute(30), granted: minute(45), ended: minute(50), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndIdleTimeout},
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10).Add(5 * time.Second), 1}, {minute(20).Add(time.Second), 2}, {minute(45), 3}, {minute(50), 2}},
				Peak:  3, PeakAt: minute(45),
				Waits: []time.Time{minute(10), minute(30)},
			},
		},
		{
			name: "Rejected and NotEntitled are denials, at their end",
			sessions: []chartSession{
				{name: "full", created: minute(12), ended: minute(12).Add(200 * time.Millisecond), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndRejected},
				{name: "no-seat", created: minute(5), ended: minute(6), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndNotEntitled},
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}}, PeakAt: minute(0),
				Denials: []time.Time{minute(6), minute(12).Add(200 * time.Millisecond)},
			},
		},
		{
			name: "waiting now, or left the queue without a licence: a wait",
			sessions: []chartSession{
				{name: "waiting", created: minute(50), phase: v1alpha1.SessionWaiting},
				{name: "gave-up", created: minute(15), ended: minute(25), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndTerminated},
				{name: "new", created: minute(55)}, // no phase yet: not counted
			},
			want: usageChart{Steps: []usageStep{{minute(0), 0}}, PeakAt: minute(0), Waits: []time.Time{minute(15), minute(50)}},
		},
		{
			name: "events outside the window are not marked",
			sessions: []chartSession{
				{name: "waiting-before", created: minute(-10), phase: v1alpha1.SessionWaiting},
				{name: "waited-before", created: minute(-10), granted: minute(5), phase: v1alpha1.SessionActive},
				{name: "refused-before", created: minute(-1), ended: minute(-1), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndRejected},
				{name: "refused-after", created: minute(61), ended: minute(61), phase: v1alpha1.SessionEnded, reason: v1alpha1.EndRejected},
				{name: "granted-after", created: minute(61), granted: minute(61), phase: v1alpha1.SessionActive},
				{name: "waited-at-the-end", created: minute(60), granted: minute(62), phase: v1alpha1.SessionActive},
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(5), 1}}, Peak: 1, PeakAt: minute(5),
				Waits: []time.Time{minute(60)},
			},
		},
		{
			// The operator ends a session and grants its licence to the next in line in one
			// pass, with one time for both: the licence changed hands, usage never exceeded one.
			name:  "a handover at one instant does not raise the peak",
			limit: int32p(1),
			sessions: []chartSession{
				{name: "b-next", created: minute(20), granted: minute(30), phase: v1alpha1.SessionActive},
				used("a-first", "", 10, 30),
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(30), 1}}, Peak: 1, PeakAt: minute(10), Limit: int32p(1),
				Waits: []time.Time{minute(20)},
			},
		},
		{
			name:  "a handover at one instant, the ended session listed first",
			limit: int32p(1),
			sessions: []chartSession{
				used("a-first", "", 10, 30),
				{name: "b-next", created: minute(20), granted: minute(30), phase: v1alpha1.SessionActive},
			},
			want: usageChart{
				Steps: []usageStep{{minute(0), 0}, {minute(10), 1}, {minute(30), 1}}, Peak: 1, PeakAt: minute(10), Limit: int32p(1),
				Waits: []time.Time{minute(20)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sessions := make([]v1alpha1.SharedSession, 0, len(tt.sessions))
			for _, s := range tt.sessions {
				sessions = append(sessions, s.object())
			}
			countBy := tt.countBy
			if countBy == "" {
				countBy = v1alpha1.CountBySession
			}
			want := tt.want
			want.From, want.To = from, to
			got := usageOverTime(sessions, "remote", countBy, tt.limit, from, to)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("usageOverTime (-want +got):\n%s", diff)
			}
		})
	}
}

// svgElement is an element of the chart, for counting them by class.
type svgElement struct {
	name, class, text string
}

// parseSVG reads the chart as XML (so it is well-formed) and returns its elements in order.
func parseSVG(t *testing.T, s string) []svgElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var els []svgElement
	var open []int
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElement{name: tok.Name.Local}
			for _, a := range tok.Attr {
				if a.Name.Local == "class" {
					e.class = a.Value
				}
			}
			els = append(els, e)
			open = append(open, len(els)-1)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				els[open[len(open)-1]].text += string(tok)
			}
		}
	}
	return els
}

func TestChartSVG(t *testing.T) {
	from, to := minute(0), minute(60)
	q := &req{lang: "en", loc: time.UTC}
	tests := []struct {
		name  string
		chart usageChart
	}{
		{name: "empty, unlimited", chart: usageChart{From: from, To: to, Steps: []usageStep{{from, 0}}, PeakAt: from}},
		{name: "with a limit, waits and denials", chart: usageChart{
			From: from, To: to, Limit: int32p(2),
			Steps: []usageStep{{from, 0}, {minute(10), 1}, {minute(20), 2}, {minute(40), 1}},
			Peak:  2, PeakAt: minute(20),
			Waits:   []time.Time{minute(15), minute(25), minute(26)},
			Denials: []time.Time{minute(30)},
		}},
		{name: "a limit of zero", chart: usageChart{From: from, To: to, Limit: int32p(0), Steps: []usageStep{{from, 0}}, PeakAt: from,
			Denials: []time.Time{minute(1), minute(2)}}},
		{name: "an empty window", chart: usageChart{From: from, To: from, Steps: []usageStep{{from, 0}}, PeakAt: from}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(tt.chart.svg(q))
			els := parseSVG(t, out)
			count := map[string]int{}
			var title, desc string
			for _, e := range els {
				if e.class != "" {
					count[e.class]++
				}
				if e.name == "title" && title == "" {
					title = e.text
				}
				if e.name == "desc" {
					desc = e.text
				}
			}
			if els[0].name != "svg" {
				t.Errorf("the chart starts with <%s>, want <svg>", els[0].name)
			}
			wantLimit := 0
			if tt.chart.Limit != nil {
				wantLimit = 1
			}
			want := map[string]int{"chart": 1, "in-use": 1, "limit": wantLimit, "wait": len(tt.chart.Waits), "denial": len(tt.chart.Denials)}
			for k, v := range want {
				if v == 0 {
					delete(want, k)
				}
			}
			if diff := cmp.Diff(want, count); diff != "" {
				t.Errorf("elements by class (-want +got):\n%s\n%s", diff, out)
			}
			if title != q.T("chart.title") {
				t.Errorf("title %q, want %q", title, q.T("chart.title"))
			}
			if desc != tt.chart.summary(q) {
				t.Errorf("desc %q, want the summary %q", desc, tt.chart.summary(q))
			}
			if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
				t.Errorf("the chart has a coordinate that is not a number:\n%s", out)
			}
		})
	}

	t.Run("texts are escaped", func(t *testing.T) {
		for key, msg := range map[string]string{
			"chart.title":   `<script>alert("title")</script>`,
			"unlimited":     `<script>alert(1)</script>`,
			"chart.wait":    `<b onclick="x">%s</b>`,
			"chart.summary": messagesEN["chart.summary"] + ` & <i>`,
		} {
			old := messagesEN[key]
			messagesEN[key] = msg
			t.Cleanup(func() { messagesEN[key] = old })
		}
		c := usageChart{From: from, To: to, Steps: []usageStep{{from, 0}}, PeakAt: from, Waits: []time.Time{minute(5)}}
		out := string(c.svg(q))
		for _, raw := range []string{"<script", "<b ", "<i>", " & "} {
			if strings.Contains(out, raw) {
				t.Errorf("the chart has %q unescaped:\n%s", raw, out)
			}
		}
		for _, e := range parseSVG(t, out) {
			if e.name == "desc" && !strings.Contains(e.text, `<script>alert(1)</script>`) {
				t.Errorf("desc %q lost the text of its message", e.text)
			}
		}
		if !strings.Contains(out, "&lt;script&gt;") {
			t.Errorf("want the title escaped as &lt;script&gt;:\n%s", out)
		}
	})
}

func TestChartWindows(t *testing.T) {
	tests := []struct {
		retain     time.Duration
		chosen     string
		wantAll    []time.Duration
		wantWindow time.Duration
	}{
		{retain: 24 * time.Hour, chosen: "", wantAll: []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour}, wantWindow: 24 * time.Hour},
		{retain: 24 * time.Hour, chosen: "1h", wantAll: []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour}, wantWindow: time.Hour},
		{retain: 24 * time.Hour, chosen: "8h", wantAll: []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour}, wantWindow: 8 * time.Hour},
		{retain: 24 * time.Hour, chosen: "3h", wantAll: []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour}, wantWindow: 24 * time.Hour},
		{retain: 24 * time.Hour, chosen: "junk", wantAll: []time.Duration{time.Hour, 8 * time.Hour, 24 * time.Hour}, wantWindow: 24 * time.Hour},
		{retain: 30 * time.Minute, chosen: "1h", wantAll: []time.Duration{30 * time.Minute}, wantWindow: 30 * time.Minute},
		{retain: 8 * time.Hour, chosen: "1h", wantAll: []time.Duration{time.Hour, 8 * time.Hour}, wantWindow: time.Hour},
	}
	for _, tt := range tests {
		all, w := chartWindows(tt.retain, tt.chosen)
		if diff := cmp.Diff(tt.wantAll, all); diff != "" || w != tt.wantWindow {
			t.Errorf("chartWindows(%v, %q) = %v, %v; want %v, %v", tt.retain, tt.chosen, all, w, tt.wantAll, tt.wantWindow)
		}
	}
}
