package portal

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// usageChart is the licences in use of one pool over a window, computed from the session log:
// the peak-usage and denials report that licences are bought by.
type usageChart struct {
	From, To time.Time
	// Steps is the number in use from each step's time until the next one's (the last until To).
	Steps []usageStep
	Peak  int
	// PeakAt is when the peak was first reached.
	PeakAt time.Time
	Limit  *int32
	// Waits are when a session had to wait for a licence; Denials when one was refused
	// (Rejected: the pool was full and does not queue; NotEntitled: no seat of the holder).
	Waits, Denials []time.Time
}

type usageStep struct {
	At    time.Time
	InUse int
}

// waitAnnounced is how long a session waits before the operator says it waits (the README's
// "a wait is announced after a second"): a grant later than this after creation was a wait.
const waitAnnounced = time.Second

// usageOverTime computes the chart of pool's sessions between from and to. With countBy Holder
// the sessions of one holder count once, as the operator counts them.
func usageOverTime(sessions []v1alpha1.SharedSession, pool string, countBy v1alpha1.CountBy, limit *int32, from, to time.Time) usageChart {
	c := usageChart{From: from, To: to, Limit: limit}
	changes := c.collect(sessions, pool)
	c.step(changes, countBy)
	slices.SortFunc(c.Waits, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(c.Denials, func(a, b time.Time) int { return a.Compare(b) })
	return c
}

// usageChange is one licence taken (+1) or given back (-1) by a holder.
type usageChange struct {
	at     time.Time
	holder string
	delta  int
}

// collect reads the session log of pool: the grants and ends, in time order, and the waits and
// refusals inside the window.
func (c *usageChart) collect(sessions []v1alpha1.SharedSession, pool string) []usageChange {
	var changes []usageChange
	in := func(t time.Time) bool { return !t.Before(c.From) && !t.After(c.To) }
	for i := range sessions {
		s := &sessions[i]
		if s.Spec.PoolName != pool {
			continue
		}
		created := s.CreationTimestamp.Time
		st := s.Status
		switch {
		case st.GrantedAt != nil:
			if st.GrantedAt.Sub(created) > waitAnnounced && in(created) {
				c.Waits = append(c.Waits, created)
			}
			changes = append(changes, usageChange{at: st.GrantedAt.Time, holder: s.Spec.Holder, delta: 1})
			if st.EndedAt != nil {
				changes = append(changes, usageChange{at: st.EndedAt.Time, holder: s.Spec.Holder, delta: -1})
			}
		case st.EndReason == v1alpha1.EndRejected || st.EndReason == v1alpha1.EndNotEntitled:
			if st.EndedAt != nil && in(st.EndedAt.Time) {
				c.Denials = append(c.Denials, st.EndedAt.Time)
			}
		case st.Phase == v1alpha1.SessionWaiting || st.Phase == v1alpha1.SessionEnded:
			// Waiting now, or left the queue without a licence.
			if in(created) {
				c.Waits = append(c.Waits, created)
			}
		}
	}
	slices.SortStableFunc(changes, func(a, b usageChange) int { return a.at.Compare(b.at) })
	return changes
}

// step turns the changes into the steps of licences in use, and finds the peak.
func (c *usageChart) step(changes []usageChange, countBy v1alpha1.CountBy) {
	byHolder := map[string]int{}
	inUse := 0
	apply := func(ch usageChange) {
		if countBy != v1alpha1.CountByHolder {
			inUse += ch.delta
			return
		}
		before := byHolder[ch.holder]
		byHolder[ch.holder] += ch.delta
		switch after := byHolder[ch.holder]; {
		case before == 0 && after > 0:
			inUse++
		case before > 0 && after == 0:
			inUse--
		}
	}
	i := 0
	for ; i < len(changes) && !changes[i].at.After(c.From); i++ {
		apply(changes[i])
	}
	c.Steps = append(c.Steps, usageStep{At: c.From, InUse: inUse})
	c.Peak, c.PeakAt = inUse, c.From
	// The changes of one instant are applied together: the operator ends a session and grants
	// its licence to the next at the same time, which is no moment of two in use.
	for i < len(changes) && !changes[i].at.After(c.To) {
		at := changes[i].at
		for ; i < len(changes) && changes[i].at.Equal(at); i++ {
			apply(changes[i])
		}
		if last := &c.Steps[len(c.Steps)-1]; last.At.Equal(at) {
			last.InUse = inUse
		} else {
			c.Steps = append(c.Steps, usageStep{At: at, InUse: inUse})
		}
		if inUse > c.Peak {
			c.Peak, c.PeakAt = inUse, at
		}
	}
}

// chartWindows are the spans the chart offers for a record kept for retain, and the one chosen
// (a duration such as 1h; the whole record when it is not one of them).
func chartWindows(retain time.Duration, chosen string) ([]time.Duration, time.Duration) {
	var windows []time.Duration
	for _, w := range []time.Duration{time.Hour, 8 * time.Hour} {
		if w < retain {
			windows = append(windows, w)
		}
	}
	windows = append(windows, retain)
	want, err := time.ParseDuration(chosen)
	if err == nil && slices.Contains(windows, want) {
		return windows, want
	}
	return windows, retain
}

// The chart's drawing area, in SVG user units.
const (
	chartW, chartH        = 720.0, 220.0
	chartLeft, chartRight = 40.0, 10.0
	chartTop, chartBottom = 14.0, 34.0
	chartMarkerY          = chartH - chartBottom + 12
)

// svg draws the chart: the licences in use as steps, the limit as a dashed line, waits as
// triangles and refusals as crosses under the time axis. It carries a title and a description
// for screen readers; the page gives the same figures in words.
func (c usageChart) svg(q *req) template.HTML {
	top := c.Peak
	if c.Limit != nil && int(*c.Limit) > top {
		top = int(*c.Limit)
	}
	if top == 0 {
		top = 1
	}
	span := c.To.Sub(c.From)
	if span <= 0 {
		span = time.Second
	}
	plotW, plotH := chartW-chartLeft-chartRight, chartH-chartTop-chartBottom
	x := func(t time.Time) float64 { return chartLeft + plotW*float64(t.Sub(c.From))/float64(span) }
	y := func(n int) float64 { return chartTop + plotH*(1-float64(n)/float64(top)) }

	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">%s</title><desc id="chart-desc">%s</desc>`,
		esc(q.T("chart.title")), esc(c.summary(q)))
	// Axes and their labels.
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, chartLeft, y(0), chartW-chartRight, y(0))
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#888"/>`, chartLeft, chartTop, chartLeft, y(0))
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end" font-size="11">%d</text>`, chartLeft-6, y(top)+4, top)
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end" font-size="11">0</text>`, chartLeft-6, y(0)+4)
	for i, t := range []time.Time{c.From, c.From.Add(span / 2), c.To} {
		anchor := [...]string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="%s" font-size="11">%s</text>`, x(t), chartH-4, anchor, esc(q.Time(t)))
	}
	// The limit.
	if c.Limit != nil {
		ly := y(int(*c.Limit))
		fmt.Fprintf(&b, `<line class="limit" x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#c0392b" stroke-dasharray="6 4"/>`, chartLeft, ly, chartW-chartRight, ly)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" font-size="11" fill="#c0392b">%s</text>`, chartW-chartRight, ly-4, esc(q.T("chart.limit", *c.Limit)))
	}
	// Licences in use, as steps.
	var d strings.Builder
	for i, s := range c.Steps {
		if i == 0 {
			fmt.Fprintf(&d, "M%.1f %.1f", x(s.At), y(s.InUse))
			continue
		}
		fmt.Fprintf(&d, " H%.1f V%.1f", x(s.At), y(s.InUse))
	}
	fmt.Fprintf(&d, " H%.1f", x(c.To))
	fmt.Fprintf(&b, `<path class="in-use" d="%s" fill="none" stroke="#2471a3" stroke-width="2"/>`, d.String())
	for _, t := range c.Waits {
		fmt.Fprintf(&b, `<path class="wait" d="M%.1f %g l-4 7 h8 z" fill="#e67e22"><title>%s</title></path>`, x(t), chartMarkerY-4, esc(q.T("chart.wait", q.Time(t))))
	}
	for _, t := range c.Denials {
		fmt.Fprintf(&b, `<path class="denial" d="M%.1f %g l8 8 m0 -8 l-8 8" stroke="#c0392b" stroke-width="2"><title>%s</title></path>`, x(t)-4, chartMarkerY-4, esc(q.T("chart.denial", q.Time(t))))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped above
}

// summary is the chart in words.
func (c usageChart) summary(q *req) string {
	limit := q.T("unlimited")
	if c.Limit != nil {
		limit = fmt.Sprint(*c.Limit)
	}
	return q.T("chart.summary", c.Peak, limit, q.Time(c.PeakAt), len(c.Waits), len(c.Denials))
}
