package allocator

// Findings of a review, kept as tests: a grant and a preemption in one pass.

import (
	"testing"
	"time"
)

// A session granted in a pass is not preempted in the same pass: it would be told Granted and
// EndingSoon at once, and the Granted event and count are lost (FuzzDecide seed 2941).
func TestReviewNoGrantAndPreemptInOnePass(t *testing.T) {
	p := pool(preempting(20*time.Second), func(p *Pool) { p.Policy.MaxPerHolder = 2 })
	ss := []Session{
		session("old", 0, "kiosk", active(0)),
		session("big", 1, "kiosk", priority(1), count(2)),
		session("new", 2, "kiosk"),
	}
	res := Decide(p, nil, ss, at(10*time.Second))
	for i, r := range res.Sessions {
		if r.Licence == Gains && r.EndsAt != nil {
			t.Errorf("%s is granted and preempted (for %q) in one pass; transition %q", ss[i].Name, r.PreemptedBy, r.Transition)
		}
	}
}

// TestReviewSeed2941 is the generated pool FuzzDecide found on main: the same grant and
// preemption in one pass, seen by the fairness invariant.
func TestReviewSeed2941(t *testing.T) { checkSeed(t, 2941) }
