// Command bench measures the seatkeeper operator against the API server's own limits: grant
// latency and throughput, queue service, expiry lag, the cost of a heartbeat, and memory and
// CPU with many sessions, and the latency of its Kueue admission check against the real Kueue
// (minimalkueue from hack/kueue-assets.sh, run as another process). It starts an envtest control plane (etcd and kube-apiserver with the
// CRDs of config/crd/bases), measures the API server alone as the baseline, then builds the
// operator and runs it as a separate process, so that its CPU time (/proc/<pid>/stat), memory
// (VmRSS) and client metrics (rest_client_requests_total, controller_runtime_reconcile_total
// from its metrics endpoint) are its own. It prints a table with each figure's ratio to the
// baseline and the targets of the benchmark issue, and writes a JSON file and an SVG chart.
//
//	go run ./test/bench -quick         # a few minutes
//	go run ./test/bench                # the full run, under 30 minutes on 2 cores
//	make bench BENCH_ARGS=-quick
//
// Ctrl-C stops the operator and the control plane and removes their data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; the operator and the control plane are stopped")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds what the measurements share.
type bench struct {
	cfg      config
	root     string // the module root
	work     string // the run's scratch directory: kubeconfig, operator binary, logs
	cp       *controlPlane
	bin      string           // the operator binary
	profiles string           // where -pprof profiles go, empty without it
	kueue    string           // Kueue's assets (minimalkueue, crd/) when the kueue phase runs
	op       *operator        // the operator the measurements before scale share
	load     client.WithWatch // the benchmark's agents: no client-side rate limit
	paced    client.Client    // the operator's client settings: QPS 500, burst 1000
	start    time.Time
}

func run(ctx context.Context, cfg config) (err error) {
	b := &bench{cfg: cfg, start: time.Now()}
	if b.root, err = moduleRoot(); err != nil {
		return err
	}
	out := cfg.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(b.root, out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	assets, err := envtestAssets(b.root, cfg.assets)
	if err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "seatkeeper-bench-"); err != nil {
		return err
	}
	b.bin = filepath.Join(b.work, "manager")
	defer func() {
		// The logs (of the control plane and the operator) are kept when something went wrong;
		// an interrupted run leaves nothing.
		if (err == nil && os.Getenv("BENCH_KEEP") == "" && !cfg.audit) || errors.Is(err, context.Canceled) {
			_ = os.RemoveAll(b.work)
			return
		}
		_ = os.Remove(b.bin)
		b.logf("logs kept in %s", b.work)
	}()

	overlay, err := b.preparePprof(out)
	if err != nil {
		return err
	}
	b.logf("building the operator")
	if err := buildOperator(ctx, b.root, b.bin, overlay); err != nil {
		return err
	}
	crds := []string{filepath.Join(b.root, "config", "crd", "bases")}
	if cfg.runs("kueue") {
		// Kueue's CRDs are installed before the operator starts, which enables its admission
		// check only when they are there. Without the kueue phase they are left out, so that
		// the other figures stay comparable with runs from before the check.
		if b.kueue, err = kueueAssets(b.root); err != nil {
			return err
		}
		crds = append(crds, filepath.Join(b.kueue, "crd"))
	}
	b.logf("starting etcd and kube-apiserver from %s", assets)
	b.cp, err = startControlPlane(assets, crds, b.work, cfg.audit)
	defer func() {
		b.logf("stopping the control plane")
		if stopErr := b.cp.stop(); stopErr != nil {
			b.logf("stop control plane: %v", stopErr)
		}
	}()
	if err != nil {
		return err
	}
	if err := b.clients(); err != nil {
		return err
	}

	res := results{Started: b.start.UTC(), Mode: cfg.mode(), Sizes: cfg.sizes, Machine: machine(), Errors: map[string]string{}}
	b.logf("baseline: the API server alone")
	if res.Baseline, err = b.baseline(ctx); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	b.op, err = b.startOperator(ctx, "operator.log")
	defer func() { _ = b.op.stop() }()
	if err != nil {
		return err
	}
	b.measure(ctx, &res)
	b.logf("stopping the operator")
	if err := b.op.stop(); err != nil {
		b.logf("%v", err)
	}
	b.measureFreshOperators(ctx, &res)
	res.Seconds = time.Since(b.start).Seconds()
	if ctx.Err() != nil {
		b.logf("interrupted: stopping everything")
		return ctx.Err()
	}

	if err := b.report(res, out); err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d measurements failed (see above)", len(res.Errors))
	}
	return nil
}

// preparePprof, with -pprof, writes the build overlay that adds the profiling endpoint and
// makes the directory for the profiles; it returns the overlay ("" without -pprof).
func (b *bench) preparePprof(out string) (string, error) {
	if !b.cfg.pprof {
		return "", nil
	}
	overlay, err := writePprofOverlay(b.root, b.work)
	if err != nil {
		return "", err
	}
	b.profiles = filepath.Join(out, "profiles-"+b.start.UTC().Format("20060102-150405"))
	return overlay, os.MkdirAll(b.profiles, 0o755)
}

// report prints the table of figures against their targets, and writes it as JSON and as an
// SVG chart under out.
func (b *bench) report(res results, out string) error {
	rows := evaluate(res)
	printTable(os.Stdout, res, rows)
	stamp := b.start.UTC().Format("20060102-150405")
	jsonPath, svgPath := filepath.Join(out, "bench-"+stamp+".json"), filepath.Join(out, "bench-"+stamp+".svg")
	if err := writeJSON(jsonPath, res, rows); err != nil {
		return err
	}
	if err := writeSVG(svgPath, res, rows); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", rel(b.root, jsonPath), rel(b.root, svgPath))
	return nil
}

// measure runs the measurements that share one operator, each in a namespace of its own.
func (b *bench) measure(ctx context.Context, res *results) {
	steps := []struct {
		name, title string
		run         func(context.Context) error
	}{
		{"latency", "grant latency against free capacity", func(ctx context.Context) error {
			r, err := b.grantLatency(ctx, res.Baseline)
			if err == nil {
				res.Latency = &r
			}
			return err
		}},
		{"podgate", "pod scheduling gate against free licences", func(ctx context.Context) error {
			r, err := b.podGateLatency(ctx, res.Baseline)
			if err == nil {
				res.PodGate = &r
			}
			return err
		}},
		{"kueue", "Kueue admission check against free licences", func(ctx context.Context) error {
			r, err := b.kueueCheckLatency(ctx, res.Baseline)
			if err == nil {
				res.Kueue = &r
			}
			return err
		}},
		{"churn", "grant throughput under churn", func(ctx context.Context) error {
			r, err := b.grantThroughput(ctx, res.Baseline)
			if err == nil {
				res.Churn = &r
			}
			return err
		}},
		{"queue", "queue service", func(ctx context.Context) error {
			r, err := b.queueService(ctx, res.Baseline)
			if err == nil {
				res.Queue = &r
			}
			return err
		}},
		{"handoff", "hand-off behind a long queue", func(ctx context.Context) error {
			r, runs, err := b.handoffRuns(ctx, res.Baseline)
			if err == nil {
				res.Handoff, res.HandoffRuns = &r, runs
			}
			return err
		}},
		{"expiry", "expiry lag", func(ctx context.Context) error {
			r, err := b.expiryLag(ctx)
			if err == nil {
				res.Expiry = &r
			}
			return err
		}},
		{"heartbeat", "heartbeat cost", func(ctx context.Context) error {
			r, err := b.heartbeatCost(ctx)
			if err == nil {
				res.Heartbeat = &r
			}
			return err
		}},
	}
	for _, s := range steps {
		if !b.cfg.runs(s.name) || ctx.Err() != nil {
			continue
		}
		b.logf("%s: %s", s.name, s.title)
		b.phase(ctx, res, s.name, s.run)
	}
}

// measureFreshOperators runs the measurements that start operators of their own, after the
// shared one has stopped: scale, and large when asked for.
func (b *bench) measureFreshOperators(ctx context.Context, res *results) {
	if b.cfg.runs("scale") && ctx.Err() == nil {
		b.logf("scale: operator memory and CPU with many sessions")
		b.phase(ctx, res, "scale", func(ctx context.Context) error {
			r, err := b.scale(ctx)
			if err == nil || len(r.Points) > 0 { // the points measured before a failure stand
				res.Scale = &r
			}
			return err
		})
	}
	if b.cfg.runs("large") && ctx.Err() == nil {
		b.logf("large: one pool of %d shared licences, one of %d seats", b.cfg.sizes.LargeHolders, b.cfg.sizes.LargeHolders)
		b.phase(ctx, res, "large", func(ctx context.Context) error {
			r, err := b.large(ctx)
			res.Large = &r
			return err
		})
	}
}

// phase runs one measurement, noting a failure instead of stopping the run. Each has a time
// limit: -phase-timeout and a minute for setting up and cleaning up (the churn run stops its
// clients at -phase-timeout and reports what it has); the scale run's limit is per point. The
// operator is started again if it died, so that one failure does not take the rest with it.
func (b *bench) phase(ctx context.Context, res *results, name string, f func(context.Context) error) {
	// The scale and large runs start operators of their own, with a time limit per point.
	shared := name != "scale" && name != "large"
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if shared {
		limit := b.cfg.phaseTimeout + time.Minute
		if name == "handoff" {
			limit *= time.Duration(max(b.cfg.repeat, 1))
		}
		pctx, cancel = context.WithTimeout(ctx, limit)
	}
	defer cancel()
	profiling := shared && b.profiles != ""
	if profiling {
		if err := b.op.startCPUProfile(ctx); err != nil {
			b.logf("%v", err)
			profiling = false
		}
	}
	err := f(pctx)
	if profiling {
		path := filepath.Join(b.profiles, name+".cpu.pprof")
		if err := b.op.stopCPUProfile(ctx, path); err != nil {
			b.logf("%v", err)
		} else {
			b.logf("operator CPU profile of %s: go tool pprof -top %s", name, rel(b.root, path))
		}
	}
	if err == nil || ctx.Err() != nil {
		return
	}
	b.logf("%s failed: %v", name, err)
	res.Errors[name] = err.Error()
	if shared && b.op.alive() != nil {
		b.logf("restarting the operator")
		var startErr error
		if b.op, startErr = b.startOperator(ctx, "operator.log"); startErr != nil {
			b.logf("%v", startErr)
		}
	}
}

// cleanup empties a measurement's namespace and waits for the operator to settle, so that the
// next measurement starts from rest. It runs on its own context: it must also run when the
// measurement's time is up.
func (b *bench) cleanup(ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := emptyNamespace(ctx, b.load, ns); err != nil {
		b.logf("empty namespace %s: %v", ns, err)
	}
	if b.op != nil && b.op.alive() == nil {
		_ = b.op.waitIdle(ctx, 500*time.Millisecond)
	}
}

// startOperator starts the built operator against the control plane, its log in the run's
// scratch directory under logName.
func (b *bench) startOperator(ctx context.Context, logName string) (*operator, error) {
	return startOperator(ctx, operatorOptions{
		bin: b.bin, kubeconfig: b.cp.kubeconfig, logPath: filepath.Join(b.work, logName),
		extra: b.cfg.operatorArgs, pprof: b.profiles != "",
	})
}

func (b *bench) clients() error {
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := kueue.AddToScheme(scheme); err != nil {
		return err
	}
	var err error
	if b.load, err = client.NewWithWatch(b.cp.config(-1, 0), client.Options{Scheme: scheme}); err != nil {
		return err
	}
	b.paced, err = client.New(b.cp.config(500, 1000), client.Options{Scheme: scheme})
	return err
}

func (b *bench) logf(format string, args ...any) {
	el := time.Since(b.start).Round(100 * time.Millisecond)
	fmt.Fprintf(os.Stderr, "[%7s] %s\n", el, fmt.Sprintf(format, args...))
}

// machineInfo describes where the figures come from.
type machineInfo struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
}

func machine() machineInfo {
	return machineInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
