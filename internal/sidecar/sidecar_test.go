package sidecar

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
