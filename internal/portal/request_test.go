package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSpan(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{60 * time.Second, "1m"},
		{24 * time.Hour, "24h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{10 * time.Minute, "10m"},
		{5 * time.Second, "5s"},
		{90 * time.Second, "1m30s"},
		{1500 * time.Millisecond, "1.5s"},
		{100 * time.Millisecond, "100ms"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := span(tt.d); got != tt.want {
			t.Errorf("span(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if got := (&req{}).Span(tt.d); got != tt.want {
			t.Errorf("Span(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestNotice checks the message that the page shows after a change redirected to it.
func TestNotice(t *testing.T) {
	tests := []struct {
		lang, query, want string
	}{
		{lang: "en", query: "notice=seat-on&n=1", want: "The seat is on."},
		{lang: "en", query: "notice=seat-off&n=1", want: "The seat is off: its licence is free."},
		{lang: "en", query: "notice=seat-added&n=1", want: "The seat was added."},
		{lang: "en", query: "notice=assigned&n=1", want: "The order was assigned."},
		{lang: "en", query: "notice=cancelled&n=1", want: "The order was cancelled."},
		{lang: "fr", query: "notice=cancelled&n=1", want: messagesFR["notice.cancelled"]},
		{lang: "en", query: "notice=ended&n=3", want: "3 sessions ended: their licences go to the next in line."},
		{lang: "it", query: "notice=ended&n=2", want: strings.Replace(messagesIT["notice.ended"], "%d", "2", 1)},
		{lang: "en", query: "notice=ended&n=x", want: "0 sessions ended: their licences go to the next in line."},
		// Only the portal's own notices: nothing from elsewhere.
		{lang: "en", query: "notice=%3Cscript%3E&n=1", want: ""},
		{lang: "en", query: "notice=api&n=1", want: ""},
		{lang: "en", query: "n=1", want: ""},
		{lang: "en", query: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.lang+" "+tt.query, func(t *testing.T) {
			q := &req{lang: tt.lang, r: httptest.NewRequest(http.MethodGet, "/ns/acme/seats?"+tt.query, nil)}
			if got := q.notice(); got != tt.want {
				t.Errorf("notice() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBack checks the filters a page's forms carry back.
func TestBack(t *testing.T) {
	tests := []struct {
		name, method, target, back, want string
	}{
		{name: "a GET keeps its query", method: http.MethodGet, target: "/ns/acme/seats?pool=cad&assignee=al", want: "?assignee=al&pool=cad"},
		{name: "without the notice", method: http.MethodGet, target: "/ns/acme/seats?pool=cad&notice=seat-on&n=1", want: "?pool=cad"},
		{name: "only a notice", method: http.MethodGet, target: "/ns/acme/seats?notice=seat-on&n=1", want: ""},
		{name: "no query", method: http.MethodGet, target: "/ns/acme/seats", want: ""},
		{name: "a POST: its back field", method: http.MethodPost, target: "/ns/acme/seats?ignored=1", back: "?pool=cad&notice=ended&n=2", want: "?pool=cad"},
		{name: "a POST without back", method: http.MethodPost, target: "/ns/acme/seats", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if tt.method == http.MethodPost {
				r = httptest.NewRequest(tt.method, tt.target, strings.NewReader(url.Values{"back": {tt.back}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(tt.method, tt.target, nil)
			}
			if got := (&req{r: r}).Back(); got != tt.want {
				t.Errorf("Back() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimeAndDur(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 8, 30, 5, 0, time.UTC)
	tests := []struct {
		q    *req
		t    time.Time
		want string
	}{
		{q: &req{lang: "en", loc: time.UTC}, t: at, want: "2026-12-01 08:30:05"},
		{q: &req{lang: "en", loc: rome}, t: at, want: "2026-12-01 09:30:05"},
		{q: &req{lang: "fr", loc: rome}, t: at, want: "01/12/2026 09:30:05"},
		{q: &req{lang: "it", loc: time.UTC}, t: at, want: "01/12/2026 08:30:05"},
		{q: &req{lang: "en", loc: rome}, t: time.Time{}, want: ""},
	}
	for _, tt := range tests {
		if got := tt.q.Time(tt.t); got != tt.want {
			t.Errorf("Time(%v) in %s, %s = %q, want %q", tt.t, tt.q.lang, tt.q.loc, got, tt.want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0:00:00", 59 * time.Second: "0:00:59", 25*time.Hour + 61*time.Second: "25:01:01", -time.Minute: "0:00:00"} {
		if got := (&req{}).Dur(d); got != want {
			t.Errorf("Dur(%v) = %q, want %q", d, got, want)
		}
	}
}
