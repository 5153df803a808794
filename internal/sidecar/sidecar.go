// Package sidecar is the seatkeeper-agent sidecar: configuration from flags and environment,
// the lease it holds through pkg/agent, and its HTTP endpoints.
package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/pkg/agent"
)

// config is the sidecar's configuration after flags and environment.
type config struct {
	req     agent.Request
	release agent.ReleaseMode
	listen  string
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	fs := flag.NewFlagSet("seatkeeper-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var release, priority, licences string
	fs.StringVar(&c.req.Pool, "pool", env("SEATKEEPER_POOL"), "LicensePool to take the licence from")
	fs.StringVar(&c.req.Holder, "holder", env("SEATKEEPER_HOLDER", "POD_NAME"), "holder of the licence")
	fs.StringVar(&c.req.Namespace, "namespace", env("SEATKEEPER_NAMESPACE", "POD_NAMESPACE"), "namespace of the pool")
	fs.StringVar(&c.req.Name, "session", env("SEATKEEPER_SESSION"), "SharedSession name (default: generated from the holder)")
	fs.StringVar(&priority, "priority", env("SEATKEEPER_PRIORITY"), "queue priority (higher is served first; an agent under the admission policy may only use 0)")
	fs.StringVar(&licences, "licences", env("SEATKEEPER_LICENCES"), "how many shared licences to take at once, all or none (default 1)")
	fs.StringVar(&release, "release", env("SEATKEEPER_RELEASE"), "how to give the licence back: terminate (end the session and keep it as the usage record) or delete")
	fs.StringVar(&c.listen, "listen", env("SEATKEEPER_LISTEN"), "HTTP address for /readyz, /status and /state")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.req.Namespace == "" {
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			c.req.Namespace = strings.TrimSpace(string(b))
		}
	}
	if c.listen == "" {
		c.listen = ":8090"
	}
	if priority != "" {
		p, err := strconv.ParseInt(priority, 10, 32)
		if err != nil {
			return c, fmt.Errorf("--priority %q: %w", priority, err)
		}
		c.req.Priority = int32(p)
	}
	if licences != "" {
		n, err := strconv.ParseInt(licences, 10, 32)
		if err != nil || n < 1 || n > v1alpha1.MaxSessionCount {
			return c, fmt.Errorf("--licences %q: want a whole number of licences from 1 to %d, e.g. 4", licences, v1alpha1.MaxSessionCount)
		}
		c.req.Count = int32(n)
	}
	// The session log is the record of who used a licence: keep it unless asked not to.
	switch release {
	case "", "terminate":
		c.release = agent.Terminate
	case "delete":
		c.release = agent.Delete
	default:
		return c, fmt.Errorf("--release %q: want terminate or delete", release)
	}
	var missing []string
	for name, v := range map[string]string{"--pool": c.req.Pool, "--holder": c.req.Holder, "--namespace": c.req.Namespace} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing %s (or their environment variables)", strings.Join(missing, ", "))
	}
	return c, nil
}

// Run is the sidecar; it returns the process's exit code: 0 after releasing the licence when
// ctx ends (SIGTERM), 1 when the operator ended the session, 2 for bad configuration. ready,
// when not nil, receives the HTTP listener's address once it serves.
func Run(ctx context.Context, args []string, getenv func(string) string, cfg *rest.Config, stdout, stderr io.Writer, ready chan<- string) int {
	conf, err := parseConfig(args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "seatkeeper-agent:", err)
		return 2
	}
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(stderr, "seatkeeper-agent:", err)
		return 2
	}
	lis, err := net.Listen("tcp", conf.listen)
	if err != nil {
		fmt.Fprintln(stderr, "seatkeeper-agent:", err)
		return 2
	}
	var logMu sync.Mutex // the lease's callbacks log from its own goroutine
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(stdout, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", a...)
	}
	rep := &reporter{logf: logf}
	lease, err := agent.Acquire(ctx, c, conf.req, agent.Options{OnChange: rep.change, OnNotice: rep.notice})
	if err != nil {
		lis.Close()
		fmt.Fprintln(stderr, "seatkeeper-agent:", err)
		return 1
	}
	srv := &http.Server{Handler: handler(lease), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	if ready != nil {
		ready <- lis.Addr().String()
	}
	what := "a licence"
	if conf.req.Count > 1 {
		what = fmt.Sprintf("%d licences", conf.req.Count)
	}
	logf("asked pool %s/%s for %s for %s (session %s)", conf.req.Namespace, conf.req.Pool, what, conf.req.Holder, lease.Name())

	<-lease.Done()
	var ended *agent.EndedError
	if errors.As(lease.Err(), &ended) {
		fmt.Fprintf(stderr, "seatkeeper-agent: the operator ended session %s: %s: %s\n", lease.Name(), ended.Reason, ended.Message)
		return 1
	}
	// Stopped by a signal: give the licence back.
	releaseCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lease.Release(releaseCtx, conf.release); err != nil {
		fmt.Fprintf(stderr, "seatkeeper-agent: release session %s: %v\n", lease.Name(), err)
		return 1
	}
	logf("released session %s", lease.Name())
	return 0
}

// reporter logs what the operator says of the session: each change, each notice once with
// when and why the licence goes back, and the grant of an overdraft licence once. The lease
// calls it from its one goroutine.
type reporter struct {
	logf      func(format string, a ...any)
	overdraft bool
}

func (r *reporter) change(s agent.Status) {
	r.logf("session %s: %s %s", s.Name, s.Phase, s.Message)
	if s.Overdraft && !r.overdraft {
		r.logf("session %s: granted beyond the pool's limit (overdraft)", s.Name)
	}
	r.overdraft = s.Overdraft
}

func (r *reporter) notice(n agent.Notice) {
	ends := n.EndsAt.UTC().Format(time.RFC3339)
	switch n.Reason {
	case v1alpha1.EndPreempted:
		r.logf("session %s: under notice: session %s of higher priority takes the licence at %s unless one frees first; save the work before then", n.Session, n.PreemptedBy, ends)
	default:
		r.logf("session %s: under notice: the pool's licences were reduced, and the licence goes back at %s unless one frees first; save the work before then", n.Session, ends)
	}
}

// session is what the HTTP endpoints ask of the lease.
type session interface {
	Granted() bool
	Status() agent.Status
	SetState(ctx context.Context, state v1alpha1.SessionState, peer string) error
}

func handler(lease session) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !lease.Granted() {
			st := lease.Status()
			http.Error(w, fmt.Sprintf("licence not held: %s %s", st.Phase, st.Message), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "licence held")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(lease.Status())
	})
	mux.HandleFunc("POST /state", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			State v1alpha1.SessionState `json:"state"`
			Peer  string                `json:"peer"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			http.Error(w, "want JSON {\"state\":\"Idle|Connected\",\"peer\":\"...\"}: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body.State != v1alpha1.SessionIdle && body.State != v1alpha1.SessionConnected {
			http.Error(w, "state must be Idle or Connected", http.StatusBadRequest)
			return
		}
		if err := lease.SetState(r.Context(), body.State, body.Peer); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// WatchParent returns a context that ends with ctx or when the process that started this one
// exits, so that an agent started from a shell or `go run` gives its licence back when that
// parent is killed rather than holding it until its heartbeat is missed. It notices the exit
// by the parent's process id changing (the orphan is handed to init or a subreaper), checking
// every interval; a process whose parent is 0 or 1 from the start (a container's PID 1, a
// daemon) has nothing to watch.
func WatchParent(ctx context.Context, getppid func() int, interval time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	parent := getppid()
	if parent <= 1 {
		return ctx, cancel
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if getppid() != parent {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}
