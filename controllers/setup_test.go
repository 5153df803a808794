package controllers

import (
	"testing"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestOptionsDefaults(t *testing.T) {
	fake := clocktesting.NewFakePassiveClock(t0)
	tests := []struct {
		name    string
		in      Options
		workers int
		clock   clock.PassiveClock
	}{
		{"nothing set: one worker on the real clock", Options{}, 1, clock.RealClock{}},
		{"a negative count is one worker", Options{PoolWorkers: -3}, 1, clock.RealClock{}},
		{"what is set is kept", Options{PoolWorkers: 8, Clock: fake}, 8, fake},
	}
	for _, tc := range tests {
		got := tc.in.withDefaults()
		if got.PoolWorkers != tc.workers || got.Clock != tc.clock {
			t.Errorf("%s: got %d workers and clock %T, want %d and %T", tc.name, got.PoolWorkers, got.Clock, tc.workers, tc.clock)
		}
	}
}
