package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// phases the benchmark runs, in order. The baseline always runs: the other figures are
// compared with it.
func allPhases() []string {
	return []string{"latency", "podgate", "kueue", "churn", "queue", "handoff", "expiry", "heartbeat", "scale"}
}

// extraPhases run only when -phases names them: "large" (100,000 holders in one pool, of each
// kind) takes longer than the full run's 30 minutes on its own.
func extraPhases() []string { return []string{"large"} }

// config is what the flags chose. A size left at zero takes the value of the mode (-quick or
// the default full run); see sizes.
type config struct {
	quick        bool
	out          string
	assets       string
	phases       []string
	phaseTimeout time.Duration
	operatorArgs []string
	pprof        bool
	audit        bool
	repeat       int // runs of the hand-off measurement
	sizes        sizes
}

// sizes are the measurements' parameters.
type sizes struct {
	RoundTrips      int           `json:"roundTrips"`      // create+status-update samples of the baseline
	CeilingFor      time.Duration `json:"ceilingForNs"`    // how long the status-write ceiling is measured
	Writers         int           `json:"writers"`         // parallel writers for the ceiling: the operator's writeParallelism
	LatencySamples  int           `json:"latencySamples"`  // sessions created one at a time against free capacity
	ChurnSessions   int           `json:"churnSessions"`   // N
	ChurnLimit      int           `json:"churnLimit"`      // M
	ChurnClients    int           `json:"churnClients"`    // client goroutines, so at most this many sessions exist at once
	Hold            time.Duration `json:"holdNs"`          // how long a holder keeps its licence
	QueueLimit      int           `json:"queueLimit"`      // the full pool's limit
	QueueLength     int           `json:"queueLength"`     // sessions waiting behind it
	QueueSamples    int           `json:"queueSamples"`    // releases timed
	HandoffLimit    int           `json:"handoffLimit"`    // the hand-off pool's limit
	HandoffSessions int           `json:"handoffSessions"` // sessions created at once behind it
	ExpiryPerKind   int           `json:"expiryPerKind"`   // sessions per kind of deadline
	HBSessions      int           `json:"heartbeatSessions"`
	Heartbeats      int           `json:"heartbeats"`
	ScaleSessions   []int         `json:"scaleSessions"`
	ScalePools      []int         `json:"scalePools"`
	LargeHolders    int           `json:"largeHolders"`   // holders of each kind in the large pool
	LargeChurn      int           `json:"largeChurn"`     // holders released and replaced once it has settled
	KueueWorkloads  int           `json:"kueueWorkloads"` // Workloads created one at a time against free licences
	PodGatePods     int           `json:"podGatePods"`    // gated Pods created one at a time against free licences
}

func quickSizes() sizes {
	return sizes{
		RoundTrips: 100, CeilingFor: 5 * time.Second, Writers: 16, LatencySamples: 100,
		ChurnSessions: 1000, ChurnLimit: 100, ChurnClients: 150, Hold: 200 * time.Millisecond,
		QueueLimit: 20, QueueLength: 20, QueueSamples: 50, HandoffLimit: 5, HandoffSessions: 300, ExpiryPerKind: 30,
		HBSessions: 100, Heartbeats: 1000, ScaleSessions: []int{1000, 5000}, ScalePools: []int{1, 10},
		LargeHolders: 100000, LargeChurn: 1000, KueueWorkloads: 50, PodGatePods: 50,
	}
}

func fullSizes() sizes {
	return sizes{
		RoundTrips: 300, CeilingFor: 10 * time.Second, Writers: 16, LatencySamples: 300,
		ChurnSessions: 5000, ChurnLimit: 500, ChurnClients: 750, Hold: 200 * time.Millisecond,
		QueueLimit: 50, QueueLength: 50, QueueSamples: 200, HandoffLimit: 5, HandoffSessions: 300, ExpiryPerKind: 100,
		HBSessions: 1000, Heartbeats: 10000, ScaleSessions: []int{1000, 5000, 20000}, ScalePools: []int{1, 10, 100},
		LargeHolders: 100000, LargeChurn: 1000, KueueWorkloads: 200, PodGatePods: 200,
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: go run ./test/bench [-quick | -full] [flags]

Starts an envtest control plane, runs the seatkeeper operator against it as a separate process,
and measures grant latency and throughput, the pod gate's latency, the Kueue admission check's latency (against the real
Kueue from hack/kueue-assets.sh), queue service, expiry lag, heartbeat cost and memory against
the API server's own round trip and status-write ceiling. Prints a table and writes a
JSON file and an SVG chart under -out. Sizes left at 0 take the mode's value (full, -quick).

`)
		fs.PrintDefaults()
	}
	var c config
	var full bool
	var phases, opArgs, scaleSessions, scalePools string
	var s sizes
	fs.BoolVar(&c.quick, "quick", false, "Small sizes: the whole run fits in a few minutes.")
	fs.BoolVar(&full, "full", false, "Full sizes (the default): under 30 minutes on a 2-core machine.")
	fs.StringVar(&c.out, "out", "test/bench/results", "Directory for the JSON file, the SVG chart and -pprof profiles; relative to the module root.")
	fs.StringVar(&c.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory holding kube-apiserver and etcd (default $KUBEBUILDER_ASSETS; else hack/envtest-assets.sh is asked).")
	fs.StringVar(&phases, "phases", strings.Join(allPhases(), ","), "Measurements to run after the baseline, comma-separated.")
	fs.DurationVar(&c.phaseTimeout, "phase-timeout", 0, "Longest a measurement may take before it reports what it has (default 3m quick, 8m full).")
	fs.BoolVar(&c.pprof, "pprof", false, "Build the operator with a profiling endpoint (go build -overlay, the repository is untouched) and save a CPU profile per measurement and a heap profile per scale point under -out.")
	fs.BoolVar(&c.audit, "audit", false, "Have the API server write an audit log (every request's arrival and answer, Metadata level) to the run's directory, which is then kept: to split a slow grant into its requests.")
	fs.IntVar(&c.repeat, "repeat", 1, "Run the hand-off measurement this many times, each against a round trip of the API server timed just before it with the operator stopped, and print how its figures spread and how many runs met each target. The table shows the median run. Not with -pprof.")
	fs.StringVar(&opArgs, "operator-args", "", "Extra flags for the operator, space-separated (e.g. '--pool-workers=8').")
	fs.IntVar(&s.RoundTrips, "round-trips", 0, "Baseline create+status-update samples (100 quick, 300 full).")
	fs.DurationVar(&s.CeilingFor, "ceiling-for", 0, "How long the status-write ceiling is measured (5s quick, 10s full).")
	fs.IntVar(&s.LatencySamples, "latency-samples", 0, "Sessions timed create→Granted against free capacity (100, 300).")
	fs.IntVar(&s.ChurnSessions, "churn-sessions", 0, "N: sessions in the churn run (1000, 5000).")
	fs.IntVar(&s.ChurnLimit, "churn-limit", 0, "M: the churn pool's concurrentSessions (100, 500).")
	fs.IntVar(&s.ChurnClients, "churn-clients", 0, "Client goroutines in the churn run (default 1.5×M: 15 agents sharing 10 licences).")
	fs.DurationVar(&s.Hold, "hold", 0, "How long a churn holder keeps its licence (200ms).")
	fs.IntVar(&s.QueueLimit, "queue-limit", 0, "The full pool's limit in the queue-service run (20, 50).")
	fs.IntVar(&s.QueueLength, "queue-length", 0, "Sessions waiting in the queue-service run (20, 50).")
	fs.IntVar(&s.HandoffLimit, "handoff-limit", 0, "The hand-off pool's limit (5).")
	fs.IntVar(&s.HandoffSessions, "handoff-sessions", 0, "Sessions created at once in the hand-off run (300).")
	fs.IntVar(&s.QueueSamples, "queue-samples", 0, "Releases timed in the queue-service run (50, 200).")
	fs.IntVar(&s.ExpiryPerKind, "expiry-sessions", 0, "Sessions per kind of deadline in the expiry run (30, 100).")
	fs.IntVar(&s.HBSessions, "heartbeat-sessions", 0, "Active sessions heartbeating (100, 1000).")
	fs.IntVar(&s.Heartbeats, "heartbeats", 0, "Heartbeats sent in total (1000, 10000).")
	fs.StringVar(&scaleSessions, "scale-sessions", "", "Session counts for the scale run (1000,5000 quick; 1000,5000,20000 full).")
	fs.IntVar(&s.LargeHolders, "large-holders", 0, "Holders of each kind in the large pool (-phases=large; 100000).")
	fs.IntVar(&s.LargeChurn, "large-churn", 0, "Holders released and replaced in the large pool once it has settled (1000).")
	fs.IntVar(&s.KueueWorkloads, "kueue-workloads", 0, "Workloads timed QuotaReserved→check Ready in the kueue run (50, 200).")
	fs.IntVar(&s.PodGatePods, "podgate-pods", 0, "Gated Pods timed created→gate removed in the podgate run (50, 200).")
	fs.StringVar(&scalePools, "scale-pools", "", "Pool counts for the scale run (1,10 quick; 1,10,100 full).")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.quick && full {
		return config{}, errors.New("-quick and -full exclude each other")
	}
	if c.repeat < 1 {
		return config{}, fmt.Errorf("-repeat: %d runs; at least 1", c.repeat)
	}
	if c.repeat > 1 && c.pprof {
		// The operator is restarted between runs, which would lose its profile.
		return config{}, errors.New("-repeat and -pprof exclude each other: the operator is restarted between runs")
	}
	var err error
	if s.ScaleSessions, err = intList(scaleSessions); err != nil {
		return config{}, fmt.Errorf("-scale-sessions: %w", err)
	}
	if s.ScalePools, err = intList(scalePools); err != nil {
		return config{}, fmt.Errorf("-scale-pools: %w", err)
	}
	base := fullSizes()
	if c.quick {
		base = quickSizes()
	}
	c.sizes = s.withDefaults(base)
	if c.phaseTimeout == 0 {
		c.phaseTimeout = 8 * time.Minute
		if c.quick {
			c.phaseTimeout = 3 * time.Minute
		}
	}
	for _, p := range strings.Split(phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "baseline" {
			continue
		}
		if known := append(allPhases(), extraPhases()...); !slices.Contains(known, p) {
			return config{}, fmt.Errorf("-phases: unknown measurement %q (known: %s)", p, strings.Join(known, ", "))
		}
		c.phases = append(c.phases, p)
	}
	c.operatorArgs = strings.Fields(opArgs)
	return c, nil
}

// withDefaults fills the zero fields of s from base. The churn clients default to 1.5×M of
// the chosen M, so that -churn-limit alone keeps a queue.
func (s sizes) withDefaults(base sizes) sizes {
	pick := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	pickDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	pick(&s.RoundTrips, base.RoundTrips)
	pickDur(&s.CeilingFor, base.CeilingFor)
	pick(&s.Writers, base.Writers)
	pick(&s.LatencySamples, base.LatencySamples)
	pick(&s.ChurnSessions, base.ChurnSessions)
	pick(&s.ChurnLimit, base.ChurnLimit)
	pick(&s.ChurnClients, s.ChurnLimit*3/2)
	pickDur(&s.Hold, base.Hold)
	pick(&s.QueueLimit, base.QueueLimit)
	pick(&s.QueueLength, base.QueueLength)
	pick(&s.QueueSamples, base.QueueSamples)
	pick(&s.HandoffLimit, base.HandoffLimit)
	pick(&s.HandoffSessions, base.HandoffSessions)
	pick(&s.ExpiryPerKind, base.ExpiryPerKind)
	pick(&s.HBSessions, base.HBSessions)
	pick(&s.Heartbeats, base.Heartbeats)
	if len(s.ScaleSessions) == 0 {
		s.ScaleSessions = base.ScaleSessions
	}
	if len(s.ScalePools) == 0 {
		s.ScalePools = base.ScalePools
	}
	pick(&s.LargeHolders, base.LargeHolders)
	pick(&s.LargeChurn, base.LargeChurn)
	pick(&s.KueueWorkloads, base.KueueWorkloads)
	pick(&s.PodGatePods, base.PodGatePods)
	return s
}

func (c config) mode() string {
	if c.quick {
		return "quick"
	}
	return "full"
}

func (c config) runs(phase string) bool { return slices.Contains(c.phases, phase) }

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
