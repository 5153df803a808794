package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// result is one run of the plugin.
type result struct {
	code           int
	stdout, stderr string
	flags          *kubeFlags // what connect was given; nil if it was not called
}

// runWith runs the plugin against c at the fixed time. Its connect answers the namespace of -n,
// else acme, the namespace of the kubeconfig context in these tests.
func runWith(t *testing.T, c client.Client, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	var r result
	connect := func(f *kubeFlags) (client.Client, string, error) {
		r.flags = f
		ns := f.overrides.Context.Namespace
		if ns == "" {
			ns = "acme"
		}
		return c, ns, nil
	}
	r.code = run(context.Background(), args, &out, &errOut, connect, clocktesting.NewFakePassiveClock(now))
	r.stdout, r.stderr = out.String(), errOut.String()
	return r
}

// golden compares got with testdata/name.golden, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kubectl-licenses -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

// TestListings checks the output of every listing against golden files.
func TestListings(t *testing.T) {
	tests := []struct {
		golden string
		world  func() []client.Object // nil: fixtures
		args   []string
		stderr string // expected on stderr, beside the golden stdout
	}{
		{golden: "usage", args: []string{"usage"}},
		{golden: "usage-all", args: []string{"usage", "-A"}},
		{golden: "usage-all-csv", args: []string{"usage", "-A", "-o", "csv"}},
		{golden: "usage-all-json", args: []string{"usage", "--all-namespaces", "--output=json"}},
		{golden: "seats", args: []string{"seats"}},
		{golden: "seats-all", args: []string{"seats", "-A"}},
		{golden: "seats-all-csv", args: []string{"seats", "-A", "-o", "csv"}},
		{golden: "seats-all-json", args: []string{"seats", "-A", "-o", "json"}},
		{golden: "seats-assignee", args: []string{"seats", "--assignee", "alice@acme.example"}},
		{golden: "sessions", args: []string{"sessions"}},
		{golden: "sessions-all", args: []string{"sessions", "-A"}},
		{golden: "sessions-all-csv", args: []string{"sessions", "-A", "-o", "csv"}},
		{golden: "sessions-all-json", args: []string{"sessions", "-A", "-o", "json"}},
		{golden: "sessions-active", args: []string{"sessions", "--active"}},
		{golden: "sessions-waiting", args: []string{"sessions", "--waiting"}},
		{golden: "sessions-ended-csv", args: []string{"sessions", "--ended", "-o", "csv"}},
		{golden: "sessions-pool", args: []string{"sessions", "--pool", "cad-floating"}},
		{golden: "sessions-holder-json", args: []string{"sessions", "--holder", "alice@acme.example", "-o", "json"}},
		{golden: "sessions-globex", args: []string{"-n", "globex", "sessions"}},
		{golden: "sessions-empty", args: []string{"sessions", "-n", "initech"}, stderr: "No sessions found in namespace initech.\n"},
		{golden: "sessions-empty-csv", args: []string{"sessions", "-n", "initech", "-o", "csv"}},
		{golden: "sessions-empty-json", args: []string{"sessions", "-n", "initech", "-o", "json"}},
		// -o wide on pools without policies: the same table with two more columns.
		{golden: "usage-wide", args: []string{"usage", "-o", "wide"}},
		{golden: "sessions-wide", args: []string{"sessions", "-o", "wide"}},
		{golden: "groups-empty", args: []string{"groups"}, stderr: "No groups found in namespace acme.\n"},
		// The licence policies: without -o wide, usage reads as before.
		{golden: "policies-usage", world: policyFixtures, args: []string{"usage"}},
		{golden: "policies-usage-wide", world: policyFixtures, args: []string{"usage", "-o", "wide"}},
		{golden: "policies-usage-all-wide", world: policyFixtures, args: []string{"usage", "-A", "-o", "wide"}},
		{golden: "policies-usage-csv", world: policyFixtures, args: []string{"usage", "-o", "csv"}},
		{golden: "policies-usage-json", world: policyFixtures, args: []string{"usage", "-o", "json"}},
		{golden: "policies-sessions", world: policyFixtures, args: []string{"sessions"}},
		{golden: "policies-sessions-wide", world: policyFixtures, args: []string{"sessions", "-o", "wide"}},
		{golden: "policies-sessions-csv", world: policyFixtures, args: []string{"sessions", "-o", "csv"}},
		{golden: "policies-sessions-json", world: policyFixtures, args: []string{"sessions", "-o", "json"}},
		{golden: "policies-groups", world: policyFixtures, args: []string{"groups"}},
		{golden: "policies-groups-wide", world: policyFixtures, args: []string{"groups", "-A", "--pool", "solver", "-o", "wide"}},
		{golden: "policies-groups-csv", world: policyFixtures, args: []string{"groups", "-o", "csv"}},
		{golden: "policies-groups-json", world: policyFixtures, args: []string{"groups", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			world := fixtures
			if tt.world != nil {
				world = tt.world
			}
			r := runWith(t, fakeClientOf(world(), nil), tt.args...)
			if r.code != 0 || r.stderr != tt.stderr {
				t.Fatalf("exit code %d, stderr %q; want 0 and %q", r.code, r.stderr, tt.stderr)
			}
			golden(t, tt.golden, r.stdout)
		})
	}
}

// The CSV headers, as documented in the README: scripts and spreadsheets rely on them.
var csvHeaders = map[string]string{
	"usage":    "namespace,pool,product,displayName,seatsBound,seatsPending,seatsLimit,sessionsActive,sessionsLimit,idle,waiting,expires,ready,message,sessionsOverdraft,sessionsOverdraftLimit,sessionsReserved",
	"groups":   "namespace,pool,group,seatsBound,seatsLimit,sessionsActive,sessionsLimit,sessionsReserved,waiting",
	"seats":    "namespace,name,pool,assignee,kind,enabled,phase,reason,boundAt,message",
	"sessions": "namespace,name,pool,holder,peer,state,phase,start,end,durationSeconds,duration,reason,queuePosition,message,licences,priority,notice,endsAt,preemptedBy,overdraft",
}

// TestCSVParsesBack reads each listing's CSV back with encoding/csv: a stable header equal to
// the JSON keys, one record per JSON object, with the same values; in both worlds of fixtures.
func TestCSVParsesBack(t *testing.T) {
	for _, world := range []struct {
		name    string
		objects func() []client.Object
	}{{"fixtures", fixtures}, {"policies", policyFixtures}} {
		for command, header := range csvHeaders {
			t.Run(world.name+"/"+command, func(t *testing.T) {
				testCSVParsesBack(t, fakeClientOf(world.objects(), nil), command, header)
			})
		}
	}
}

func testCSVParsesBack(t *testing.T, c client.Client, command, header string) {
	t.Helper()
	csvOut := runWith(t, c, command, "-A", "-o", "csv")
	jsonOut := runWith(t, c, command, "-A", "-o", "json")
	if csvOut.code != 0 || jsonOut.code != 0 {
		t.Fatalf("exit codes %d, %d: %s%s", csvOut.code, jsonOut.code, csvOut.stderr, jsonOut.stderr)
	}
	if n := strings.Count(csvOut.stdout, "\n"); n == 0 || n != strings.Count(csvOut.stdout, "\r\n") {
		t.Errorf("want CRLF record ends (RFC 4180):\n%q", csvOut.stdout)
	}
	r := csv.NewReader(strings.NewReader(csvOut.stdout))
	records, err := r.ReadAll() // also checks that every record has the header's length
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, csvOut.stdout)
	}
	if got := strings.Join(records[0], ","); got != header {
		t.Errorf("CSV header\n got %s\nwant %s", got, header)
	}

	var objects []map[string]any
	if err := json.Unmarshal([]byte(jsonOut.stdout), &objects); err != nil {
		t.Fatal(err)
	}
	if len(objects) == 0 && len(records) == 1 {
		return // no rows in this world: the header alone
	}
	if keys := orderedKeys(t, jsonOut.stdout); !cmp.Equal(keys, records[0]) {
		t.Errorf("JSON keys %v differ from CSV header %v", keys, records[0])
	}
	if len(records)-1 != len(objects) {
		t.Fatalf("%d CSV records, %d JSON objects", len(records)-1, len(objects))
	}
	for i, rec := range records[1:] {
		for j, key := range records[0] {
			if want := csvOf(objects[i][key]); rec[j] != want && rec[j] != "'"+want {
				t.Errorf("record %d, %s: CSV %q, JSON %q", i+1, key, rec[j], want)
			}
		}
	}
}

// TestWideOnlyAddsColumns checks that -o wide leaves the table's columns as they are and adds
// its own after them, line by line, where no group lines come between.
func TestWideOnlyAddsColumns(t *testing.T) {
	tests := []struct {
		world func() []client.Object
		args  []string
	}{
		{fixtures, []string{"usage", "-A"}},
		{fixtures, []string{"seats", "-A"}},
		{fixtures, []string{"sessions", "-A"}},
		{policyFixtures, []string{"sessions"}},
		{policyFixtures, []string{"groups"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := fakeClientOf(tt.world(), nil)
			table := runWith(t, c, tt.args...)
			wide := runWith(t, c, append(tt.args, "-o", "wide")...)
			if table.code != 0 || wide.code != 0 {
				t.Fatalf("exit codes %d, %d: %s%s", table.code, wide.code, table.stderr, wide.stderr)
			}
			tableLines, wideLines := strings.Split(table.stdout, "\n"), strings.Split(wide.stdout, "\n")
			if len(tableLines) != len(wideLines) {
				t.Fatalf("%d lines in the table, %d with -o wide:\n%s\n%s", len(tableLines), len(wideLines), table.stdout, wide.stdout)
			}
			for i := range tableLines {
				if !strings.HasPrefix(wideLines[i], tableLines[i]) {
					t.Errorf("line %d:\n%q with -o wide\n%q without", i+1, wideLines[i], tableLines[i])
				}
			}
		})
	}
}

// orderedKeys returns the keys of the first object of a JSON array, in order.
func orderedKeys(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			continue
		case json.Delim('}'):
			return keys
		}
		if depth == 2 {
			keys = append(keys, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func csvOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprint(v)
}

// TestSessionDurationAndSafety checks the session log's numbers and its spreadsheet safety.
func TestSessionDurationAndSafety(t *testing.T) {
	r := runWith(t, newFakeClient(nil), "sessions", "-o", "csv")
	records, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]string{}
	for _, rec := range records[1:] {
		m := map[string]string{}
		for i, k := range records[0] {
			m[k] = rec[i]
		}
		byName[m["name"]] = m
	}
	tests := []struct {
		name, key, want string
	}{
		{"alice-helpdesk", "start", "2026-11-23T10:57:57Z"},
		{"alice-helpdesk", "end", ""},
		{"alice-helpdesk", "durationSeconds", "3723"}, // until now: 1:02:03
		{"alice-helpdesk", "duration", "1:02:03"},
		{"carol-helpdesk", "duration", "26:00:05"}, // hours run past a day
		{"bob-helpdesk", "durationSeconds", "2730"},
		{"bob-helpdesk", "duration", "0:45:30"},
		{"bob-helpdesk", "reason", "HeartbeatExpired"},
		{"bob-helpdesk", "peer", `'=HYPERLINK("http://evil.example","x")`},
		{"bob-helpdesk", "message", "no heartbeat for 60s, so the licence was freed;\nrenew status.renewTime more often"},
		{"cad-1", "start", ""},
		{"cad-1", "duration", ""},
		{"cad-1", "reason", "Rejected"},
		{"agent-2", "queuePosition", "1"},
		{"alice-helpdesk", "queuePosition", ""},
		{"carol-helpdesk", "state", "Idle"},
	}
	for _, tt := range tests {
		if got := byName[tt.name][tt.key]; got != tt.want {
			t.Errorf("%s %s = %q, want %q", tt.name, tt.key, got, tt.want)
		}
	}
}

// listRecorder records the field selectors of list calls, and can refuse them as an API server
// without selectable fields does.
type listRecorder struct {
	selectors      []string
	refuseSelector bool
}

func (l *listRecorder) funcs() *interceptor.Funcs {
	return &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		sel := ""
		if o.FieldSelector != nil {
			parts := strings.Split(o.FieldSelector.String(), ",")
			slices.Sort(parts)
			sel = strings.Join(parts, ",")
		}
		l.selectors = append(l.selectors, sel)
		if sel != "" && l.refuseSelector {
			return apierrors.NewBadRequest("field label not supported: " + sel)
		}
		return c.List(ctx, list, opts...)
	}}
}

// TestServerSideSelection checks that --pool, --holder and --assignee select on the API server,
// and that the same output comes from a server that does not support the selectors.
func TestServerSideSelection(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sessions", "--pool", "remote-support", "--holder", "alice@acme.example"}, "spec.holder=alice@acme.example,spec.poolName=remote-support"},
		{[]string{"sessions", "--pool", "cad-floating"}, "spec.poolName=cad-floating"},
		{[]string{"seats", "--pool", "remote-support"}, "spec.poolName=remote-support"},
		{[]string{"seats", "--assignee", "alice@acme.example"}, "spec.assignee.name=alice@acme.example"},
		{[]string{"sessions"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var rec listRecorder
			served := runWith(t, newFakeClient(rec.funcs()), tt.args...)
			if diff := cmp.Diff([]string{tt.want}, rec.selectors); diff != "" {
				t.Errorf("field selectors (-want +got):\n%s", diff)
			}
			old := listRecorder{refuseSelector: true}
			fallback := runWith(t, newFakeClient(old.funcs()), tt.args...)
			if served.code != 0 || fallback.code != 0 || served.stdout != fallback.stdout {
				t.Errorf("a server without selectable fields gives other output:\n%s%s\n---\n%s%s",
					served.stdout, served.stderr, fallback.stdout, fallback.stderr)
			}
		})
	}
}

func getSession(t *testing.T, c client.Client, name string) *v1alpha1.SharedSession {
	t.Helper()
	s := &v1alpha1.SharedSession{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "acme", Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEnd checks that end sets spec.terminate on the named sessions, one line each, and fails
// for a missing one after ending the others.
func TestEnd(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     string
		terminated []string
	}{{
		name:       "two sessions",
		args:       []string{"end", "alice-helpdesk", "sess/agent-1"},
		stdout:     "sharedsession/alice-helpdesk terminated\nsharedsession/agent-1 terminated\n",
		terminated: []string{"alice-helpdesk", "agent-1"},
	}, {
		name:       "a missing session among others",
		args:       []string{"end", "-n", "acme", "carol-helpdesk", "nobody", "sharedsessions.licensing.seatkeeper.io/agent-2"},
		code:       1,
		stdout:     "sharedsession/carol-helpdesk terminated\nsharedsession/agent-2 terminated\n",
		stderr:     "error: sharedsession/nobody not found in namespace acme\n",
		terminated: []string{"carol-helpdesk", "agent-2"},
	}, {
		name:   "an ended session is left as it is",
		args:   []string{"end", "bob-helpdesk"},
		stdout: "sharedsession/bob-helpdesk already ended (HeartbeatExpired)\n",
	}, {
		name:   "not a session",
		args:   []string{"end", "seat/alice"},
		code:   1,
		stderr: "error: seat/alice is not a session: give a SharedSession's name\n",
	}, {
		name:   "no session named",
		args:   []string{"end"},
		code:   1,
		stderr: "error: requires at least 1 arg(s), only received 0\nSee 'kubectl licenses --help' for usage.\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeClient(nil)
			r := runWith(t, c, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("got exit code %d\nstdout %q\nstderr %q\nwant %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
			want := map[string]bool{}
			for _, n := range tt.terminated {
				want[n] = true
			}
			for _, n := range []string{"alice-helpdesk", "carol-helpdesk", "agent-1", "agent-2"} {
				if got := getSession(t, c, n).Spec.Terminate; got != want[n] {
					t.Errorf("session %s: spec.terminate = %v, want %v", n, got, want[n])
				}
			}
			// The rest of the session is untouched.
			if s := getSession(t, c, "alice-helpdesk"); s.Spec.Peer != "ticket-48213" || s.Status.Phase != v1alpha1.SessionActive {
				t.Errorf("end changed more than spec.terminate: %+v", s)
			}
		})
	}
}

func forbidden(verb, resource, ns string) error {
	where := fmt.Sprintf(" in the namespace %q", ns)
	if ns == "" {
		where = " at the cluster scope"
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: resource}, "",
		fmt.Errorf("User \"bob\" cannot %s resource %q in API group %q%s", verb, resource, v1alpha1.GroupVersion.Group, where))
}

// TestForbidden checks that a refusal by the API server names the role that allows the action
// and who can grant it.
func TestForbidden(t *testing.T) {
	refuseList := &interceptor.Funcs{List: func(_ context.Context, _ client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		o := (&client.ListOptions{}).ApplyOptions(opts)
		return forbidden("list", "sharedsessions", o.Namespace)
	}}
	refusePatch := &interceptor.Funcs{Patch: func(_ context.Context, _ client.WithWatch, obj client.Object, _ client.Patch, _ ...client.PatchOption) error {
		return forbidden("patch", "sharedsessions", obj.GetNamespace())
	}}
	tests := []struct {
		name  string
		funcs *interceptor.Funcs
		args  []string
		want  []string // lines expected on stderr, in order
	}{{
		name:  "read in a namespace",
		funcs: refuseList,
		args:  []string{"sessions", "-n", "acme"},
		want: []string{
			"error: you may not read sessions in namespace acme: this needs the seatkeeper-reports role (ask a supervisor of the namespace, someone with seatkeeper-supervisor, to bind it to you)",
			`  the API server said: sharedsessions.licensing.seatkeeper.io is forbidden: User "bob" cannot list resource "sharedsessions" in API group "licensing.seatkeeper.io" in the namespace "acme"`,
		},
	}, {
		name:  "read pools",
		funcs: refuseList,
		args:  []string{"usage", "-o", "csv"},
		want:  []string{"error: you may not read licence pools in namespace acme: this needs the seatkeeper-reports role (ask a supervisor of the namespace, someone with seatkeeper-supervisor, to bind it to you)"},
	}, {
		name:  "read in all namespaces",
		funcs: refuseList,
		args:  []string{"seats", "-A"},
		want:  []string{"error: you may not read seats in all namespaces: this needs the seatkeeper-reports role in every namespace, which a cluster administrator can bind to you; or name one namespace with -n, where a supervisor of the namespace (someone with seatkeeper-supervisor) can bind it to you"},
	}, {
		name:  "end",
		funcs: refusePatch,
		args:  []string{"end", "alice-helpdesk", "agent-1"},
		want: []string{
			"error: alice-helpdesk not ended: forbidden",
			"error: agent-1 not ended: forbidden",
			"error: you may not end sessions in namespace acme: this needs the seatkeeper-licenses role (ask a supervisor of the namespace, someone with seatkeeper-supervisor, to bind it to you)",
			`  the API server said: sharedsessions.licensing.seatkeeper.io is forbidden: User "bob" cannot patch resource "sharedsessions" in API group "licensing.seatkeeper.io" in the namespace "acme"`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWith(t, newFakeClient(tt.funcs), tt.args...)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("exit code %d, stdout %q; want 1 and nothing", r.code, r.stdout)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if diff := cmp.Diff(tt.want, lines[:min(len(tt.want), len(lines))]); diff != "" {
				t.Errorf("stderr (-want +got):\n%s\nall of it:\n%s", diff, r.stderr)
			}
		})
	}
}

// TestOtherErrors checks the messages for mistakes on the command line and for a cluster
// without seatkeeper.
func TestOtherErrors(t *testing.T) {
	noCRD := &interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return fmt.Errorf("list: %w", &meta.NoKindMatchError{
			GroupKind:        schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: "LicensePool"},
			SearchedVersions: []string{v1alpha1.GroupVersion.Version},
		})
	}}
	unreachable := &interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return errors.New(`Get "https://127.0.0.1:6443/apis/licensing.seatkeeper.io/v1alpha1/namespaces/acme/licensepools": dial tcp 127.0.0.1:6443: connect: connection refused`)
	}}
	tests := []struct {
		name  string
		funcs *interceptor.Funcs
		args  []string
		want  string
	}{
		{"output format", nil, []string{"usage", "-o", "yaml"}, "error: unknown output format \"yaml\": use table, wide, csv or json\nSee 'kubectl licenses --help' for usage.\n"},
		{"two phases", nil, []string{"sessions", "--active", "--ended"}, "error: --active, --waiting and --ended exclude each other: give one, or none for every session\nSee 'kubectl licenses --help' for usage.\n"},
		{"unknown command", nil, []string{"sesions"}, "error: unknown command \"sesions\" (did you mean sessions?)\nSee 'kubectl licenses --help' for usage.\n"},
		{"unknown flag", nil, []string{"usage", "--pool", "x"}, "error: unknown flag: --pool\nSee 'kubectl licenses --help' for usage.\n"},
		{"arguments to a listing", nil, []string{"seats", "alice"}, "error: unknown command \"alice\" for \"kubectl licenses seats\"\nSee 'kubectl licenses --help' for usage.\n"},
		{"no CRDs", noCRD, []string{"usage"}, "error: this cluster does not serve seatkeeper's API (licensing.seatkeeper.io): is seatkeeper installed, and is this the right --context? (list: no matches for kind \"LicensePool\" in version \"licensing.seatkeeper.io/v1alpha1\")\n"},
		{"unreachable", unreachable, []string{"usage"}, "error: read licence pools in namespace acme: Get \"https://127.0.0.1:6443/apis/licensing.seatkeeper.io/v1alpha1/namespaces/acme/licensepools\": dial tcp 127.0.0.1:6443: connect: connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWith(t, newFakeClient(tt.funcs), tt.args...)
			if r.code != 1 || r.stdout != "" || r.stderr != tt.want {
				t.Errorf("exit code %d, stdout %q\nstderr %q\nwant 1, nothing and\n       %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

// TestKubeconfigFlags checks that the kubectl flags reach connect.
func TestKubeconfigFlags(t *testing.T) {
	r := runWith(t, newFakeClient(nil), "usage", "--kubeconfig", "/tmp/kc", "--context", "prod", "--namespace", "ns/globex", "--as", "bob", "--as-group", "auditors")
	if r.code != 0 {
		t.Fatalf("exit code %d: %s", r.code, r.stderr)
	}
	f := r.flags
	got := []string{f.kubeconfig, f.overrides.CurrentContext, f.overrides.Context.Namespace, f.overrides.AuthInfo.Impersonate, strings.Join(f.overrides.AuthInfo.ImpersonateGroups, ",")}
	if diff := cmp.Diff([]string{"/tmp/kc", "prod", "globex", "bob", "auditors"}, got); diff != "" {
		t.Errorf("flags given to connect (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.stdout, "POOL ") || !strings.Contains(r.stdout, "solver") {
		t.Errorf("want the pools of globex, got\n%s", r.stdout)
	}
}

// TestHelp checks that every command has help, and that help needs no cluster.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {}, {"usage", "--help"}, {"groups", "--help"}, {"seats", "-h"}, {"sessions", "--help"}, {"end", "--help"}, {"help", "sessions"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runWith(t, nil, args...)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:\n  kubectl licenses") || r.flags != nil {
				t.Errorf("exit code %d, connected %v, stderr %q, stdout\n%s", r.code, r.flags != nil, r.stderr, r.stdout)
			}
		})
	}
	r := runWith(t, nil, "--help")
	for _, flag := range []string{"--kubeconfig", "--context", "-n, --namespace", "--as "} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("--help does not show %s:\n%s", flag, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "--password") {
		t.Errorf("--help shows the hidden credential flags:\n%s", r.stdout)
	}
	r = runWith(t, nil, "sessions", "--help")
	for _, s := range []string{"-o, --output", "-A, --all-namespaces", "--pool", "--holder", "--active", "--ended", "h:mm:ss"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("sessions --help does not mention %s:\n%s", s, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	r := runWith(t, nil, "version")
	if r.code != 0 || r.stdout != "kubectl-licenses devel for licensing.seatkeeper.io/v1alpha1\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
