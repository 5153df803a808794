package sidecar

import (
	"io"
	"strings"
	"testing"

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
			want: config{req: agent.Request{Namespace: "acme", Pool: "p", Holder: "job-1-abc"}, listen: ":8090"},
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
			want: config{req: agent.Request{Namespace: "n", Pool: "p", Holder: "alice"}, listen: ":8090"},
		},
		{name: "pool missing", env: map[string]string{"POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: "missing --pool"},
		{name: "bad release", args: []string{"--release=keep"}, env: map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": "x", "POD_NAMESPACE": "n"}, wantErr: `--release "keep": want delete or terminate`},
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
