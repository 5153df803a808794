package main

import "testing"

// hrun is a hand-off run with the given p50, p99 and round trip (ms), and rate ÷ ideal.
func hrun(p50, p99, rtP50, rtP99, rate float64) handoffResult {
	return handoffResult{
		Handoff:   summary{N: 295, P50: p50, P99: p99},
		RoundTrip: summary{N: 300, P50: rtP50, P99: rtP99},
		RatioP50:  p50 / rtP50, RatioP99: p99 / rtP99, RatioToIdeal: rate,
	}
}

func TestHandoffMeets(t *testing.T) {
	for _, tc := range []struct {
		name          string
		run           handoffResult
		latency, rate bool
	}{
		{"all met", hrun(4, 14, 4, 12, 0.96), true, true},
		{"p99 over 1.5× the round trip", hrun(4, 19, 4, 12, 0.96), false, true},
		{"p99 over 100 ms though within 1.5×", hrun(20, 101, 20, 80, 0.96), false, true},
		{"p50 over the round trip + 10 ms", hrun(15, 20, 4, 20, 0.96), false, true},
		{"rate under 90%", hrun(4, 14, 4, 12, 0.89), true, false},
		{"no hand-offs", handoffResult{RoundTrip: summary{P50: 4, P99: 12}, RatioToIdeal: 0.95}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			latency, rate := tc.run.meets()
			if latency != tc.latency || rate != tc.rate {
				t.Errorf("meets() = %v, %v; want %v, %v", latency, rate, tc.latency, tc.rate)
			}
		})
	}
}

func TestMedianRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ratios []float64
		want   float64
	}{
		{"one", []float64{1.2}, 1.2},
		{"odd: the middle one", []float64{1.6, 1.1, 1.3}, 1.3},
		{"even: the worse of the middle two", []float64{1.1, 1.6, 1.2, 1.4}, 1.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs []handoffResult
			for _, r := range tc.ratios {
				runs = append(runs, handoffResult{RatioP99: r})
			}
			if got := medianRun(runs).RatioP99; got != tc.want {
				t.Errorf("median ratio %v; want %v", got, tc.want)
			}
		})
	}
}

func TestSpreadOf(t *testing.T) {
	runs := []handoffResult{
		hrun(4, 14, 4, 12, 0.96),  // met
		hrun(5, 24, 4, 12, 0.92),  // p99 2×
		hrun(3, 12, 4, 10, 0.88),  // rate missed, latency met
		hrun(4.5, 16, 4, 11, 0.9), // met, at the rate's edge
	}
	s := spreadOf(runs)
	want := handoffSpread{
		P50Min: 3, P50Max: 5, P99Min: 12, P99Max: 24,
		RatioMin: 14.0 / 12, RatioMedian: 16.0 / 11, RatioMax: 2,
		RateMin: 0.88, RateMax: 0.96, LatencyMet: 3, RateMet: 3,
	}
	if s != want {
		t.Errorf("spreadOf =\n %+v; want\n %+v", s, want)
	}
	if (spreadOf(nil) != handoffSpread{}) {
		t.Errorf("spreadOf(nil) = %+v; want zero", spreadOf(nil))
	}
}
