package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// bar is one horizontal bar of a chart panel: value as the bar, whisker as a line beyond it
// (p99 beside p50), target as a red tick.
type bar struct {
	label                  string
	value, whisker, target float64
	note                   string
}

// Chart geometry, in SVG user units.
const (
	chartWidth = 960
	labelWidth = 250
	plotWidth  = 560
	barHeight  = 18
	barGap     = 8
	panelGap   = 36
)

// writeSVG draws the run's latencies, throughput and memory as three panels of horizontal
// bars, by hand: no plotting library for three bar charts.
func writeSVG(path string, r results, _ []row) error {
	var panels []string
	y := 60.0
	addPanel := func(title string, bars []bar, logScale bool, unit string) {
		if len(bars) == 0 {
			return
		}
		svg, h := panel(y, title, bars, logScale, unit)
		panels = append(panels, svg)
		y += h + panelGap
	}
	addPanel("Latency, ms (log scale): bar p50, line to p99, red tick the target", latencyBars(r), true, "ms")
	addPanel("Grants per second under churn against the API server's write ceiling", throughputBars(r), false, "/s")
	addPanel("Operator memory per cached session, KiB (RSS above an empty operator)", memoryBars(r), false, "KiB")

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="12">`+"\n", chartWidth, y, chartWidth, y)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="28" font-size="16" font-weight="bold">seatkeeper benchmark: %s run, %d CPUs, %s</text>`+"\n",
		r.Mode, r.Machine.CPUs, r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, `<text x="16" y="46" fill="#555">baseline: create + status update p50 %s, p99 %s; status-write ceiling %.0f writes/s</text>`+"\n",
		html.EscapeString(fmtMs(r.Baseline.RoundTrip.P50)), html.EscapeString(fmtMs(r.Baseline.RoundTrip.P99)), r.Baseline.CeilingPerSec)
	for _, p := range panels {
		b.WriteString(p)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func latencyBars(r results) []bar {
	rt := r.Baseline.RoundTrip
	bars := []bar{{label: "API create + status update", value: rt.P50, whisker: rt.P99}}
	if l := r.Latency; l != nil {
		bars = append(bars, bar{label: "create → Granted (free)", value: l.Grant.P50, whisker: l.Grant.P99, target: 3 * rt.P99})
	}
	if g := r.PodGate; g != nil {
		bars = append(bars, bar{label: "gated Pod created → ungated", value: g.Ungate.P50, whisker: g.Ungate.P99, target: 1000})
	}
	if k := r.Kueue; k != nil {
		bars = append(bars, bar{label: "Workload reserved → check Ready", value: k.Check.P50, whisker: k.Check.P99, target: 1000})
	}
	if q := r.Queue; q != nil {
		bars = append(bars, bar{label: "release → head Granted", value: q.Service.P50, whisker: q.Service.P99, target: 2 * rt.P99})
	}
	if e := r.Expiry; e != nil {
		bars = append(bars,
			bar{label: "expiry lag: heartbeat", value: e.Heartbeat.P50, whisker: e.Heartbeat.P99, target: 1000},
			bar{label: "expiry lag: idle", value: e.Idle.P50, whisker: e.Idle.P99, target: 1000},
			bar{label: "expiry lag: max duration", value: e.MaxDuration.P50, whisker: e.MaxDuration.P99, target: 1000})
	}
	return bars
}

func throughputBars(r results) []bar {
	c := r.Churn
	if c == nil {
		return nil
	}
	return []bar{
		{label: "status-write ceiling", value: r.Baseline.CeilingPerSec},
		{label: fmt.Sprintf("write-bound ideal (÷ %.2f writes)", c.WritesPerCycle), value: c.IdealPerSec},
		{label: "grants/s sustained", value: c.GrantsPerSec, target: 0.8 * c.IdealPerSec, note: fmt.Sprintf("%.0f%% of ideal", 100*c.RatioToIdeal)},
	}
}

func memoryBars(r results) []bar {
	s := r.Scale
	if s == nil {
		return nil
	}
	var bars []bar
	for _, p := range s.Points {
		bars = append(bars, bar{label: fmt.Sprintf("%d sessions, %s", p.Sessions, plural(p.Pools, "pool")), value: p.BytesPerSession / 1024, target: 4})
	}
	return bars
}

// panel draws one titled panel at y and returns it with its height.
func panel(y float64, title string, bars []bar, logScale bool, unit string) (string, float64) {
	top := 0.0
	lowest := math.Inf(1)
	for _, b := range bars {
		top = max(top, b.value, b.whisker, b.target)
		for _, v := range []float64{b.value, b.whisker} {
			if v > 0 {
				lowest = min(lowest, v)
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	var scale func(float64) float64
	var ticks []float64
	if logScale {
		lo := math.Pow(10, math.Floor(math.Log10(max(lowest, 0.01))))
		hi := math.Pow(10, math.Ceil(math.Log10(top)))
		scale = func(v float64) float64 {
			if v <= lo {
				return 0
			}
			return plotWidth * math.Log10(v/lo) / math.Log10(hi/lo)
		}
		for t := lo; t <= hi*1.001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		step := niceStep(top * 1.1 / 5)
		hi := math.Ceil(top*1.1/step) * step
		scale = func(v float64) float64 { return plotWidth * max(v, 0) / hi }
		for t := 0.0; t <= hi*1.001; t += step {
			ticks = append(ticks, t)
		}
	}

	var b strings.Builder
	x0 := float64(labelWidth)
	height := 24 + float64(len(bars))*(barHeight+barGap) + 20
	fmt.Fprintf(&b, `<text x="16" y="%.0f" font-size="13" font-weight="bold">%s</text>`+"\n", y+14, html.EscapeString(title))
	plotTop, plotBottom := y+24, y+24+float64(len(bars))*(barHeight+barGap)
	for _, t := range ticks {
		x := x0 + scale(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x, plotTop, x, plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555" font-size="10">%s</text>`+"\n", x, plotBottom+13, tickLabel(t, unit))
	}
	for i, br := range bars {
		by := plotTop + float64(i)*(barHeight+barGap)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`+"\n", x0-8, by+13, html.EscapeString(br.label))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.1f" height="%d" fill="#4a7fb5"/>`+"\n", x0, by, scale(br.value), barHeight)
		end := scale(br.value)
		label := tickLabel(br.value, unit)
		if br.whisker > br.value {
			end = scale(br.whisker)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#1f3f66" stroke-width="2"/>`+"\n", x0+scale(br.value), by+barHeight/2, x0+end, by+barHeight/2)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#1f3f66" stroke-width="2"/>`+"\n", x0+end, by+3, x0+end, by+barHeight-3)
			label += " / " + tickLabel(br.whisker, unit)
		}
		if br.target > 0 {
			tx := x0 + scale(br.target)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#c0392b" stroke-width="3"/>`+"\n", tx, by-2, tx, by+barHeight+2)
		}
		if br.note != "" {
			label += " (" + br.note + ")"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#222">%s</text>`+"\n", x0+max(end, scale(br.target))+8, by+13, html.EscapeString(label))
	}
	return b.String(), height
}

// niceStep rounds a raw axis step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v float64, unit string) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f %s", v, unit)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}
