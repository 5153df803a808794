package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/pkg/agent"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "downward API environment",
			env:  map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "job-1-abc", "POD_NAMESPACE": "acme"},
			want: config{req: agent.Request{Namespace: "acme", Pool: "p", Holder: "job-1-abc"}, release: agent.Terminate, listen: ":8090"},
		},
		{
			name: "flags win over the environment",
			args: []string{"--pool=q", "--holder=alice", "--namespace=n", "--priority=5", "--release=terminate", "--listen=:9000", "--session=s1"},
			env:  map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "acme"},
			want: config{req: agent.Request{Namespace: "n", Pool: "q", Holder: "alice", Name: "s1", Priority: 5}, release: agent.Terminate, listen: ":9000"},
		},
		{
			name: "SEATKEEPER_HOLDER over POD_NAME",
			env:  map[string]string{"SEATKEEPER_POOL": "p", "SEATKEEPER_HOLDER": "alice", "POD_NAME": "x", "SEATKEEPER_NAMESPACE": "n", "POD_NAMESPACE": "m"},
			want: config{req: agent.Request{Namespace: "n", Pool: "p", Holder: "alice"}, release: agent.Terminate, listen: ":8090"},
		},
		{
			name: "delete only when asked: no usage record stays",
			args: []string{"--release=delete"},
			env:  map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "acme"},
			want: config{req: agent.Request{Namespace: "acme", Pool: "p", Holder: "x"}, release: agent.Delete, listen: ":8090"},
		},
		{
			name: "several licences from the environment",
			env:  map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "acme", "SEATKEEPER_LICENCES": "4"},
			want: config{req: agent.Request{Namespace: "acme", Pool: "p", Holder: "x", Count: 4}, release: agent.Terminate, listen: ":8090"},
		},
		{
			name: "--licences over SEATKEEPER_LICENCES",
			args: []string{"--licences=1024"},
			env:  map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "acme", "SEATKEEPER_LICENCES": "4"},
			want: config{req: agent.Request{Namespace: "acme", Pool: "p", Holder: "x", Count: 1024}, release: agent.Terminate, listen: ":8090"},
		},
		{name: "no licences", args: []string{"--licences=0"}, env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: `--licences "0": want a whole number of licences from 1 to 1024`},
		{name: "too many licences", args: []string{"--licences=1025"}, env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: `--licences "1025": want a whole number of licences from 1 to 1024`},
		{name: "licences not a number", env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n", "SEATKEEPER_LICENCES": "four"}, wantErr: `--licences "four"`},
		{name: "pool missing", env: map[string]string{"POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: "missing --pool"},
		{name: "bad release", args: []string{"--release=keep"}, env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: `--release "keep": want terminate or delete`},
		{name: "bad priority", args: []string{"--priority=high"}, env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: `--priority "high"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWatchParent: the context ends when the parent's process id changes (the parent exited),
// not before, and never for a process whose parent is init or nobody.
func TestWatchParent(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	getppid := func() int { return int(ppid.Load()) }
	ctx, cancel := WatchParent(context.Background(), getppid, time.Millisecond)
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatal("ended while the parent lives")
	case <-time.After(30 * time.Millisecond):
	}
	ppid.Store(1) // reparented to init: the parent is gone
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("did not end after the parent exited")
	}

	for _, first := range []int{0, 1} {
		ppid.Store(int64(first))
		ctx, cancel := WatchParent(context.Background(), getppid, time.Millisecond)
		ppid.Store(7)
		select {
		case <-ctx.Done():
			t.Errorf("parent %d at start: ended, want a context that only its parent ends", first)
		case <-time.After(30 * time.Millisecond):
		}
		cancel()
	}
}

// fakeSession is a lease as the HTTP endpoints see it.
type fakeSession struct{ status agent.Status }

func (f *fakeSession) Granted() bool        { return f.status.Phase == v1alpha1.SessionActive }
func (f *fakeSession) Status() agent.Status { return f.status }
func (f *fakeSession) SetState(context.Context, v1alpha1.SessionState, string) error {
	return nil
}

// TestStatusUnderNotice: /status gives a holder under notice when, why and for whom its
// licence goes back, and whether it is an overdraft licence; /readyz stays ready until then.
func TestStatusUnderNotice(t *testing.T) {
	ends := time.Date(2026, 12, 1, 9, 5, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status agent.Status
		want   map[string]any
	}{
		{
			name: "preempted",
			status: agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndPreempted, EndsAt: ends,
				PreemptedBy: "urgent-1", Message: "session urgent-1 of priority 10 takes this licence at 09:05"},
			want: map[string]any{"session": "run", "phase": "Active", "reason": "Preempted", "endsAt": "2026-12-01T09:05:00Z",
				"preemptedBy": "urgent-1", "message": "session urgent-1 of priority 10 takes this licence at 09:05"},
		},
		{
			name:   "capacity reduced, on an overdraft licence",
			status: agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Reason: v1alpha1.EndCapacityReduced, EndsAt: ends, Overdraft: true},
			want:   map[string]any{"session": "run", "phase": "Active", "reason": "CapacityReduced", "endsAt": "2026-12-01T09:05:00Z", "overdraft": true},
		},
		{
			name:   "no notice: none of its fields",
			status: agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted"},
			want:   map[string]any{"session": "run", "phase": "Active", "message": "granted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handler(&fakeSession{status: tt.status})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("/status %q: %v", rec.Body.String(), err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("/status (-want +got):\n%s", diff)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("/readyz = %d, want 200 while the licence is held", rec.Code)
			}
		})
	}
}

// TestReporter: each change is logged, each notice once with when and why, and an overdraft
// grant once however many changes follow.
func TestReporter(t *testing.T) {
	var lines []string
	r := &reporter{logf: func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }}
	ends := time.Date(2026, 12, 1, 9, 5, 0, 0, time.FixedZone("CET", 3600))
	r.change(agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Message: "granted", Overdraft: true})
	r.change(agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Message: "still granted", Overdraft: true})
	r.notice(agent.Notice{Session: "run", EndsAt: ends, Reason: v1alpha1.EndPreempted, PreemptedBy: "urgent-1"})
	r.notice(agent.Notice{Session: "run", EndsAt: ends, Reason: v1alpha1.EndCapacityReduced})
	r.change(agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Message: "covered"})
	r.change(agent.Status{Name: "run", Phase: v1alpha1.SessionActive, Message: "beyond again", Overdraft: true})
	want := []string{
		"session run: Active granted",
		"session run: granted beyond the pool's limit (overdraft)",
		"session run: Active still granted",
		"session run: under notice: session urgent-1 of higher priority takes the licence at 2026-12-01T08:05:00Z unless one frees first; save the work before then",
		"session run: under notice: the pool's licences were reduced, and the licence goes back at 2026-12-01T08:05:00Z unless one frees first; save the work before then",
		"session run: Active covered",
		"session run: Active beyond again",
		"session run: granted beyond the pool's limit (overdraft)",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}
