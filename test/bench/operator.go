package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// operator is the seatkeeper manager running as a child process, so that its CPU time, memory
// and client metrics are its own.
type operator struct {
	cmd        *exec.Cmd
	metricsURL string
	probeURL   string
	pprofURL   string // empty unless built with -pprof
	http       *http.Client
	exited     chan struct{}
	waitErr    error
}

// buildOperator compiles the operator (the module's main package) into bin. With overlay (a
// go build -overlay file, see pprof.go) a profiling endpoint is compiled in.
func buildOperator(ctx context.Context, root, bin, overlay string) error {
	args := []string{"build", "-o", bin}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the operator: %w\n%s", err, out)
	}
	return nil
}

// operatorOptions say how to run the operator binary.
type operatorOptions struct {
	bin, kubeconfig, logPath string
	extra                    []string // more flags
	pprof                    bool     // the binary has the profiling endpoint of pprof.go
}

// startOperator runs the operator against the kubeconfig with its metrics and probes on free
// local ports, and waits until it answers /readyz.
func startOperator(ctx context.Context, o operatorOptions) (*operator, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr := ""
	if o.pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	logFile, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + probeAddr,
		"--leader-elect=false",
	}, o.extra...)
	cmd := exec.Command(o.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.kubeconfig, pprofEnv+"="+pprofAddr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so that a Ctrl-C reaches this program, which stops the
	// operator before the control plane; and the kernel ends it if this program dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start operator: %w", err)
	}
	op := &operator{
		cmd:        cmd,
		metricsURL: "http://" + metricsAddr + "/metrics",
		probeURL:   "http://" + probeAddr + "/readyz",
		// Uncompressed: the metrics handler would otherwise gzip every scrape, on the
		// operator's CPU, which the benchmark measures.
		http:   &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}},
		exited: make(chan struct{}),
	}
	if pprofAddr != "" {
		op.pprofURL = "http://" + pprofAddr
	}
	go func() {
		op.waitErr = cmd.Wait()
		logFile.Close()
		close(op.exited)
	}()
	if err := op.waitReady(ctx); err != nil {
		_ = op.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, o.logPath)
	}
	return op, nil
}

func (o *operator) pid() int { return o.cmd.Process.Pid }

func (o *operator) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-o.exited:
			return fmt.Errorf("the operator exited at start-up: %v", o.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := o.http.Get(o.probeURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := o.scrape(ctx); err == nil {
					return nil
				}
			}
		}
	}
	return errors.New("the operator was not ready within a minute")
}

// stop sends SIGTERM and waits; after 15 seconds it kills the operator.
func (o *operator) stop() error {
	if o == nil {
		return nil
	}
	select {
	case <-o.exited:
		return nil
	default:
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.exited
		return errors.New("the operator did not stop within 15s of SIGTERM; killed")
	}
}

// alive reports an error when the operator has exited: a measurement against a dead operator
// would only time out.
func (o *operator) alive() error {
	select {
	case <-o.exited:
		return fmt.Errorf("the operator exited: %v", o.waitErr)
	default:
		return nil
	}
}

// usage is one reading of the operator's resources and client counters.
type usage struct {
	at         time.Time
	cpu        time.Duration      // user + system time since start
	rss        int64              // resident set, bytes
	heapInuse  float64            // go_memstats_heap_inuse_bytes
	heapKept   float64            // go_memstats_heap_idle_bytes − heap_released_bytes: free, not returned to the OS
	writes     float64            // rest_client_requests_total for POST, PUT, PATCH and DELETE
	reads      float64            // rest_client_requests_total for GET and LIST (watches are long GETs)
	reconciles float64            // controller_runtime_reconcile_total of the pool controller
	reconcileS float64            // controller_runtime_reconcile_time_seconds_sum of the pool controller
	requests   map[string]float64 // rest_client_requests_total by "METHOD code"
	promised   float64            // seatkeeper_promised_grants_total
}

func (o *operator) usage(ctx context.Context) (usage, error) {
	m, err := o.scrape(ctx, usageMetrics()...)
	if err != nil {
		return usage{}, err
	}
	u := usage{at: time.Now(), heapInuse: m.sum("go_memstats_heap_inuse_bytes"), reconciles: m.sum("controller_runtime_reconcile_total", "controller", "licensepool"),
		heapKept:   m.sum("go_memstats_heap_idle_bytes") - m.sum("go_memstats_heap_released_bytes"),
		reconcileS: m.sum("controller_runtime_reconcile_time_seconds_sum", "controller", "licensepool"),
		requests:   map[string]float64{}, promised: m.sum("seatkeeper_promised_grants_total")}
	for _, s := range m {
		if s.name == "rest_client_requests_total" {
			u.requests[s.labels["method"]+" "+s.labels["code"]] += s.value
		}
	}
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		u.writes += m.sum("rest_client_requests_total", "method", method)
	}
	u.reads = m.sum("rest_client_requests_total", "method", "GET")

	if u.cpu, err = processCPU(o.pid()); err != nil {
		return usage{}, err
	}
	if u.rss, err = processRSS(o.pid()); err != nil {
		return usage{}, err
	}
	return u, nil
}

// delta is what happened between two readings.
type delta struct {
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Writes     float64 `json:"writes"`
	Reads      float64 `json:"reads"`
	Reconciles float64 `json:"reconciles"`
	// ReconcileSeconds is the time spent in the pool controller's Reconcile, summed.
	ReconcileSeconds float64 `json:"reconcileSeconds"`
	// Requests counts the operator's API requests by "METHOD code" (409 is a conflict).
	Requests map[string]float64 `json:"requests"`
	// Promised is the sessions granted on the ledger's promise (seatkeeper_promised_grants_total).
	Promised float64 `json:"promised"`
}

// usedSince waits for the operator to go idle, and returns what it used since before.
func (o *operator) usedSince(ctx context.Context, before usage) (delta, error) {
	if err := o.waitIdle(ctx, 0); err != nil {
		return delta{}, err
	}
	after, err := o.usage(ctx)
	if err != nil {
		return delta{}, err
	}
	return after.since(before), nil
}

// writesPer is the operator's writes by "METHOD code", per one of n.
func (d delta) writesPer(n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range d.Requests {
		if !strings.HasPrefix(k, "GET ") {
			out[k] = v / float64(n)
		}
	}
	return out
}

func (u usage) since(before usage) delta {
	d := delta{
		Seconds:          u.at.Sub(before.at).Seconds(),
		CPUSeconds:       (u.cpu - before.cpu).Seconds(),
		Writes:           u.writes - before.writes,
		Reads:            u.reads - before.reads,
		Reconciles:       u.reconciles - before.reconciles,
		ReconcileSeconds: u.reconcileS - before.reconcileS,
		Requests:         map[string]float64{},
		Promised:         u.promised - before.promised,
	}
	for k, v := range u.requests {
		if n := v - before.requests[k]; n != 0 {
			d.Requests[k] = n
		}
	}
	return d
}

// Metric families the benchmark reads. A scrape asks for these alone (promhttp's name[]
// filter), which keeps what serving it costs the operator small.
func usageMetrics() []string {
	return []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "controller_runtime_reconcile_total", "controller_runtime_reconcile_time_seconds", "rest_client_requests_total", "seatkeeper_promised_grants_total"}
}

func idleMetrics() []string {
	return []string{"controller_runtime_reconcile_total", "workqueue_depth", "controller_runtime_active_workers"}
}

// scrape reads the operator's metrics endpoint: the named families, or all when none are named.
func (o *operator) scrape(ctx context.Context, families ...string) (metricSet, error) {
	q := url.Values{"name[]": families}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metricsURL+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape operator metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape operator metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(body)), nil
}

// waitIdle waits until the pool controller has nothing queued or running and has not
// reconciled for quiet. Deadlines the operator requeued for later do not count as work. It
// polls every 20ms for a second, then backs off to every 250ms: each scrape costs the
// operator CPU and allocations, which the benchmark measures.
func (o *operator) waitIdle(ctx context.Context, quiet time.Duration) error {
	start := time.Now()
	last, since := -1.0, start
	poll := 20 * time.Millisecond
	for {
		if err := o.alive(); err != nil {
			return err
		}
		m, err := o.scrape(ctx, idleMetrics()...)
		if err != nil {
			return err
		}
		n := m.sum("controller_runtime_reconcile_total", "controller", "licensepool")
		busy := m.sum("workqueue_depth", "name", "licensepool") > 0 || m.sum("controller_runtime_active_workers", "controller", "licensepool") > 0
		switch {
		case busy || n != last:
			last, since = n, time.Now()
		case time.Since(since) >= quiet:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		if time.Since(start) > time.Second {
			poll = min(2*poll, 250*time.Millisecond)
		}
	}
}

// processCPU is a process's user plus system CPU time, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces: count from after it.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// processRSS is a process's resident set size in bytes, from VmRSS in /proc/<pid>/status.
func processRSS(pid int) (int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS: %w", pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// machineCPU reads the busy and total jiffies of all CPUs from /proc/stat, so that a run can
// say how busy the machine was (the operator shares it with the API server, etcd and the
// benchmark's own clients).
func machineCPU() (busy, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	// user nice system idle iowait irq softirq steal; guest time is already in user.
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// freeAddr is a 127.0.0.1 address with a port free at the time of asking.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
