package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything one run measured; the JSON file holds it with the table's rows.
type results struct {
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"seconds"`
	Mode     string         `json:"mode"`
	Machine  machineInfo    `json:"machine"`
	Sizes    sizes          `json:"sizes"`
	Baseline baselineResult `json:"baseline"`
	Latency  *latencyResult `json:"grantLatency,omitempty"`
	PodGate  *podgateResult `json:"podGate,omitempty"`
	Kueue    *kueueResult   `json:"kueueCheck,omitempty"`
	Churn    *churnResult   `json:"churn,omitempty"`
	Queue    *queueResult   `json:"queueService,omitempty"`
	Handoff  *handoffResult `json:"handoff,omitempty"`
	// HandoffRuns, with -repeat, holds every run of the hand-off; Handoff is the median one.
	HandoffRuns []handoffResult   `json:"handoffRuns,omitempty"`
	Expiry      *expiryResult     `json:"expiryLag,omitempty"`
	Heartbeat   *heartbeatResult  `json:"heartbeat,omitempty"`
	Scale       *scaleResult      `json:"scale,omitempty"`
	Large       *largeResult      `json:"large,omitempty"`
	Errors      map[string]string `json:"errors,omitempty"`
}

// row is one line of the table: a figure, its ratio to the baseline where one applies, and the
// issue's target for it with the verdict.
type row struct {
	Section string `json:"section"`
	Figure  string `json:"figure"`
	Value   string `json:"value"`
	Ratio   string `json:"vsBaseline,omitempty"`
	Target  string `json:"target,omitempty"`
	Verdict string `json:"verdict,omitempty"` // PASS or MISS
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// evaluate turns the results into the table's rows, checking each target of the issue: one
// section per measurement that ran.
func evaluate(r results) []row {
	var t table
	b := r.Baseline
	t.baseline(b)
	if r.Latency != nil {
		t.latency(r.Latency)
	}
	if r.PodGate != nil {
		t.podGate(r.PodGate)
	}
	if r.Kueue != nil {
		t.kueue(r.Kueue)
	}
	if r.Churn != nil {
		t.churn(r.Churn, b)
	}
	if r.Queue != nil {
		t.queue(r.Queue)
	}
	if r.Handoff != nil {
		t.handoff(r.Handoff, r.HandoffRuns)
	}
	if r.Expiry != nil {
		t.expiry(r.Expiry)
	}
	if r.Heartbeat != nil {
		t.heartbeat(r.Heartbeat)
	}
	if r.Scale != nil {
		t.scale(r.Scale)
	}
	if r.Large != nil {
		t.large(r.Large)
	}
	for name, err := range r.Errors {
		t.add(name, "FAILED", err, "", "", "")
	}
	return t.rows
}

// table collects the rows of the report.
type table struct{ rows []row }

func (t *table) add(section, figure, value, ratio, target, verdict string) {
	t.rows = append(t.rows, row{section, figure, value, ratio, target, verdict})
}

func (t *table) baseline(b baselineResult) {
	t.add("baseline", "round trip: create + status update, p50 / p99", pair(b.RoundTrip.P50, b.RoundTrip.P99), "1×", "", "")
	t.add("baseline", "ledger write: pool status update, p50 / p99", pair(b.LedgerWrite.P50, b.LedgerWrite.P99), "", "", "")
	t.add("baseline", "grant as a merge patch, p50 / p99; machine CPU per write", fmt.Sprintf("%s; %.2f ms", pair(b.GrantByPatch.Latency.P50, b.GrantByPatch.Latency.P99), b.GrantByPatch.CPUMs), "", "", "")
	t.add("baseline", "grant as the whole status (the operator's), p50 / p99; CPU", fmt.Sprintf("%s; %.2f ms", pair(b.GrantByUpdate.Latency.P50, b.GrantByUpdate.Latency.P99), b.GrantByUpdate.CPUMs), fmt.Sprintf("%.2f× the patch's CPU", ratio(b.GrantByUpdate.CPUMs, b.GrantByPatch.CPUMs)), "", "")
	t.add("baseline", "watch delivery: write answered → watcher sees it, p50 / p99", pair(b.WatchDelivery.P50, b.WatchDelivery.P99), "", "", "")
	t.add("baseline", fmt.Sprintf("status-write ceiling: %d writers, QPS 500, burst 1000", b.Writers), fmt.Sprintf("%.0f writes/s", b.CeilingPerSec), "1×", "", "")
	t.add("baseline", "status-write capacity: 64 writers, no client limit", fmt.Sprintf("%.0f writes/s", b.CapacityPerSec), fmt.Sprintf("%.2f× ceiling", ratio(b.CapacityPerSec, b.CeilingPerSec)), "", "")
}

func (t *table) latency(l *latencyResult) {
	t.add("grant latency", fmt.Sprintf("create → Granted, free capacity, p50 / p95 / p99 (n=%d)", l.Grant.N),
		fmt.Sprintf("%s / %s / %s", fmtMs(l.Grant.P50), fmtMs(l.Grant.P95), fmtMs(l.Grant.P99)),
		fmt.Sprintf("p50 %.1f×, p99 %.1f× round trip", l.RatioP50, l.RatioP99), "p99 ≤ 3× round trip", verdict(l.RatioP99 <= 3))
	t.add("grant latency", "p50 create → decision / decision → seen (grantedAt)",
		pair(l.ToDecision.P50, l.FromDecision.P50), fmt.Sprintf("p99 %s / %s", fmtMs(l.ToDecision.P99), fmtMs(l.FromDecision.P99)), "", "")
	t.add("grant latency", "per grant: reconciles, mean reconcile, operator GETs", fmt.Sprintf("%.2f, %s, %.2f", l.ReconcilesPerGrant, fmtMs(l.MeanReconcileMs), l.ReadsPerGrant), "", "", "")
}

func (t *table) podGate(g *podgateResult) {
	t.add("pod gate", fmt.Sprintf("gated Pod created → gate removed, free licences, p50 / p99 (n=%d)", g.Ungate.N),
		pair(g.Ungate.P50, g.Ungate.P99), fmt.Sprintf("p50 %.1f×, p99 %.1f× round trip", g.RatioP50, g.RatioP99),
		"p99 ≤ 1 s", verdict(g.Ungate.N > 0 && g.Ungate.P99 <= 1000))
	t.add("pod gate", "parts, p50: create → session Active / Active → gate removed",
		pair(g.ToActive.P50, g.ActiveToUn.P50), fmt.Sprintf("p99 %s / %s", fmtMs(g.ToActive.P99), fmtMs(g.ActiveToUn.P99)), "", "")
	t.add("pod gate", "per Pod: operator API writes, GETs", fmt.Sprintf("%.2f, %.2f", g.WritesPerPod, g.ReadsPerPod), perMethod(g.WritesByMethod), "", "")
}

func (t *table) kueue(k *kueueResult) {
	t.add("kueue check", fmt.Sprintf("Workload QuotaReserved → check Ready, free licences, p50 / p99 (n=%d)", k.Check.N),
		pair(k.Check.P50, k.Check.P99), fmt.Sprintf("p50 %.1f×, p99 %.1f× round trip", k.RatioP50, k.RatioP99),
		"p99 ≤ 1 s", verdict(k.Check.N > 0 && k.Check.P99 <= 1000))
	t.add("kueue check", "Kueue's parts, p50: create → QuotaReserved / check Ready → Admitted",
		pair(k.ToQuota.P50, k.ToAdmitted.P50), fmt.Sprintf("p99 %s / %s", fmtMs(k.ToQuota.P99), fmtMs(k.ToAdmitted.P99)), "", "")
	t.add("kueue check", "per Workload: operator API writes, GETs", fmt.Sprintf("%.2f, %.2f", k.WritesPerWorkload, k.ReadsPerWorkload), perMethod(k.WritesByMethod), "", "")
}

func (t *table) churn(c *churnResult, b baselineResult) {
	title := fmt.Sprintf("grants/s sustained (N=%d, M=%d, %d clients, hold %s)", c.Sessions, c.Limit, c.Clients, time.Duration(c.HoldMs*float64(time.Millisecond)))
	if c.Incomplete {
		title += fmt.Sprintf(", stopped at the time limit after %d grants", c.Granted)
	}
	t.add("churn", title, fmt.Sprintf("%.1f /s", c.GrantsPerSec),
		fmt.Sprintf("%.0f%% of ideal, %.1f%% of ceiling", 100*c.RatioToIdeal, 100*c.RatioToCeiling), "≥ 80% of write-bound ideal", verdict(c.RatioToIdeal >= 0.8))
	t.add("churn", "write-bound ideal = ceiling ÷ writes per grant cycle", fmt.Sprintf("%.1f /s", c.IdealPerSec),
		fmt.Sprintf("%.0f ÷ %.2f", b.CeilingPerSec, c.WritesPerCycle), "", "")
	t.add("churn", "API writes per grant cycle: create + delete + operator's", fmt.Sprintf("%.2f", c.WritesPerCycle), "", "", "")
	t.add("churn", "operator API writes per grant", fmt.Sprintf("%.2f", c.OperatorWritesPerGrant),
		fmt.Sprintf("sessions %.2f, pool %.2f, Events %.2f, other %.2f", c.SessionWritesPerGrant, c.PoolWritesPerGrant, c.EventsPerGrant, c.OtherWritesPerGrant),
		"≤ 1.1", verdict(c.OperatorWritesPerGrant <= 1.1))
	t.add("churn", "operator writes per grant without Events; 409s, aborted", fmt.Sprintf("%.2f; %.2f, %.2f", c.OperatorWritesPerGrant-c.EventsPerGrant, c.ConflictsPerGrant, c.AbortedPerGrant), "", "", "")
	t.add("churn", "reconciles per grant; operator CPU; machine busy", fmt.Sprintf("%.2f; %.1f s; %.0f%%", c.ReconcilesPerGrant, c.OperatorCPUSeconds, 100*c.MachineBusy), "", "", "")
	t.add("churn", "create → Granted with queueing, p50 / p99", pair(c.GrantWait.P50, c.GrantWait.P99), fmt.Sprintf("%.0f%% were seen Waiting first", 100*c.QueuedFirst), "", "")
}

func (t *table) queue(q *queueResult) {
	t.add("queue service", fmt.Sprintf("release → head Granted, p50 / p99 (M=%d, queue %d, n=%d)", q.Limit, q.Length, q.Service.N),
		pair(q.Service.P50, q.Service.P99), fmt.Sprintf("p50 %.1f×, p99 %.1f× round trip", q.RatioP50, q.RatioP99), "p99 ≤ 2× round trip", verdict(q.RatioP99 <= 2))
	t.add("queue service", "p50 release → decision / decision → seen (grantedAt)",
		pair(q.ToDecision.P50, q.FromDecision.P50), fmt.Sprintf("p99 %s / %s", fmtMs(q.ToDecision.P99), fmtMs(q.FromDecision.P99)), "", "")
	t.add("queue service", "per release: reconciles, mean reconcile, operator GETs; granted on a promise", fmt.Sprintf("%.2f, %s, %.2f; %.0f%%", q.ReconcilesPerRelease, fmtMs(q.MeanReconcileMs), q.ReadsPerRelease, 100*q.Promised), "", "", "")
}

func (t *table) handoff(h *handoffResult, runs []handoffResult) {
	latency, rate := h.meets()
	t.add("hand-off", fmt.Sprintf("release → next grant, p50 / p99 (M=%d, %d sessions at once, hold %s, n=%d)", h.Limit, h.Sessions, time.Duration(h.HoldMs*float64(time.Millisecond)), h.Handoff.N),
		pair(h.Handoff.P50, h.Handoff.P99), fmt.Sprintf("p50 %.1f×, p99 %.1f× round trip", h.RatioP50, h.RatioP99),
		"p99 ≤ 100 ms and ≤ 1.5× round trip; p50 ≤ round trip + 10 ms",
		verdict(latency))
	t.add("hand-off", "p50 release → decision / decision → seen (grantedAt)",
		pair(h.ToDecision.P50, h.FromDecision.P50), fmt.Sprintf("p99 %s / %s", fmtMs(h.ToDecision.P99), fmtMs(h.FromDecision.P99)), "", "")
	t.add("hand-off", "grants/s sustained against M ÷ hold", fmt.Sprintf("%.1f /s", h.GrantsPerSec),
		fmt.Sprintf("%.0f%% of %.0f /s", 100*h.RatioToIdeal, h.IdealPerSec), "≥ 90% of M ÷ hold", verdict(rate))
	t.add("hand-off", "operator writes per grant; granted on a promise; queue positions off by, for", fmt.Sprintf("%.2f; %.0f%%; %d, %s", h.WritesPerGrant, 100*h.Promised, h.StalestGap, fmtMs(h.StalestFor)), "", "", "")
	t.add("hand-off", "operator CPU per grant; pool passes per grant; machine busy (operator's share)", fmt.Sprintf("%s; %.2f; %.0f%% (%.0f%%)", fmtMs(h.CPUPerGrantMs), h.PassesPerGrant, 100*h.MachineBusy, 100*h.OperatorShare), "", "", "")
	if len(runs) > 1 {
		s := spreadOf(runs)
		t.add("hand-off", fmt.Sprintf("over %d runs, each against its own round trip (above: the median run): p99; p99 ÷ round trip; grants/s ÷ ideal", len(runs)),
			fmtMs(s.P99Min)+" – "+fmtMs(s.P99Max), fmt.Sprintf("%.1f× – %.1f× (median %.1f×); %.0f – %.0f%%", s.RatioMin, s.RatioMax, s.RatioMedian, 100*s.RateMin, 100*s.RateMax),
			fmt.Sprintf("latency targets met in %d of %d runs, the rate in %d of %d", s.LatencyMet, len(runs), s.RateMet, len(runs)), "")
	}
}

func (t *table) expiry(e *expiryResult) {
	for _, k := range []struct {
		name string
		s    summary
	}{{"endedAt − deadline: heartbeat stopped (5s)", e.Heartbeat}, {"endedAt − deadline: idle (2s)", e.Idle}, {"endedAt − deadline: maxDuration (2s)", e.MaxDuration}} {
		t.add("expiry lag", fmt.Sprintf("%s, p50 / p99 (n=%d)", k.name, k.s.N), pair(k.s.P50, k.s.P99), "", "p99 ≤ 1 s", verdict(k.s.N > 0 && k.s.P99 <= 1000))
	}
	if e.WrongReason > 0 {
		t.add("expiry lag", "sessions that ended for another reason", fmt.Sprint(e.WrongReason), "", "0", verdict(false))
	}
}

func (t *table) heartbeat(h *heartbeatResult) {
	t.add("heartbeat", fmt.Sprintf("operator CPU per 1000 heartbeats (%d sessions, %.0f/s)", h.Sessions, h.PerSec), fmt.Sprintf("%.3f CPU s", h.CPUPer1000),
		fmt.Sprintf("idle %.3f CPU s/s", h.IdleCPUPerSec), "", "")
	t.add("heartbeat", "reconciles per heartbeat", fmt.Sprintf("%.4f", h.ReconcilesPerHB), "", "≤ 1", verdict(h.ReconcilesPerHB <= 1))
	t.add("heartbeat", "pool recounts per heartbeat (= reconciles)", fmt.Sprintf("%.4f", h.ReconcilesPerHB), "", "0 (< 0.01)", verdict(h.ReconcilesPerHB < 0.01))
	t.add("heartbeat", "operator API writes per heartbeat", fmt.Sprintf("%.4f", h.WritesPerHB), fmt.Sprintf("reads %.4f", h.ReadsPerHB), "0", verdict(h.WritesPerHB == 0))
}

func (t *table) scale(s *scaleResult) {
	t.add("scale", "empty operator RSS / heap in use", fmt.Sprintf("%.1f MiB / %.1f MiB", mib(float64(s.EmptyRSS)), mib(s.EmptyHeap)), "", "", "")
	largest := 0
	for _, p := range s.Points {
		largest = max(largest, p.Sessions)
	}
	for _, p := range s.Points {
		target, v := "", ""
		if p.Sessions == largest {
			target = "≤ 4 KiB per session at 20k"
			if largest < 20000 {
				target = fmt.Sprintf("≤ 4 KiB per session (at %dk; target is at 20k)", largest/1000)
			}
			v = verdict(p.BytesPerSession <= 4096)
		}
		t.add("scale", fmt.Sprintf("%d sessions, %s: RSS, per session (heap)", p.Sessions, plural(p.Pools, "pool")),
			fmt.Sprintf("%.1f MiB, %.2f KiB (%.2f KiB)", mib(float64(p.RSS)), p.BytesPerSession/1024, p.HeapPerSession/1024),
			fmt.Sprintf("heap %.0f MiB + %.0f MiB free kept; settled in %.1fs, %.1f CPU s; idle %.1f%% CPU",
				mib(p.HeapInuse), mib(p.HeapKept), p.SettleSeconds, p.SettleCPUSeconds, p.IdleCPUPercent), target, v)
	}
}

func (t *table) large(l *largeResult) {
	for _, p := range l.Points {
		// The memory target is per holder at scale: in a small pool the operator's fixed
		// memory dominates the quotient.
		memTarget, memVerdict := "≤ 4 KiB per holder", verdict(p.BytesPerHolder <= 4096)
		if p.Holders < 100000 {
			memTarget, memVerdict = "≤ 4 KiB per holder (the target is at 100,000)", ""
		}
		t.add("large pool", fmt.Sprintf("%d %s in one pool: granted, time to settle", p.Holders, p.Kind),
			fmt.Sprintf("%d, %.1f s", p.Granted, p.SettleSeconds), fmt.Sprintf("%s; %.0f grants/s while settling", plural(p.Parts, "ledger part"), p.SettleGrantsPerSec),
			"all up to the limit", verdict(p.Granted == p.Holders))
		t.add("large pool", fmt.Sprintf("%d %s: operator RSS, per holder (heap per holder)", p.Holders, p.Kind),
			fmt.Sprintf("%.1f MiB, %.2f KiB (%.2f KiB)", mib(float64(p.RSS)), p.BytesPerHolder/1024, p.HeapPerHolder/1024),
			fmt.Sprintf("heap %.0f MiB", mib(p.HeapInuse)), memTarget, memVerdict)
		t.add("large pool", fmt.Sprintf("%d %s: grants/s once settled (%d released and replaced)", p.Holders, p.Kind, p.Churn),
			fmt.Sprintf("%.0f /s", p.SettledGrantsPerSec), "", "", "")
		t.add("large pool", fmt.Sprintf("%d %s: requests the API server refused", p.Holders, p.Kind),
			fmt.Sprint(p.Refused), refusedDetail(p.RefusedByCode), "0", verdict(p.Refused == 0))
	}
}

// perMethod prints requests per item by "METHOD code", sorted.
func perMethod(by map[string]float64) string {
	var parts []string
	for k, v := range by {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func pair(a, b float64) string { return fmtMs(a) + " / " + fmtMs(b) }

func printTable(w io.Writer, r results, rows []row) {
	fmt.Fprintf(w, "\nseatkeeper benchmark, %s run on %d CPUs (%s), %s, %.0fs\n\n", r.Mode, r.Machine.CPUs, r.Machine.OS, r.Started.Format(time.RFC3339), r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tFIGURE\tVALUE\tVS BASELINE / DETAIL\tTARGET")
	section := ""
	for _, x := range rows {
		s := x.Section
		if s == section {
			s = ""
		}
		section = x.Section
		target := x.Target
		if x.Verdict != "" {
			target = x.Verdict + "  " + target
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s, x.Figure, x.Value, x.Ratio, target)
	}
	tw.Flush()
	var missed []string
	for _, x := range rows {
		if x.Verdict == "MISS" {
			missed = append(missed, x.Section+": "+x.Figure)
		}
	}
	if len(missed) == 0 {
		fmt.Fprintln(w, "\nevery target met")
	} else {
		fmt.Fprintf(w, "\n%d targets missed:\n  %s\n", len(missed), strings.Join(missed, "\n  "))
	}
}

func writeJSON(path string, r results, rows []row) error {
	data, err := json.MarshalIndent(struct {
		results
		Table []row `json:"table"`
	}{r, rows}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
