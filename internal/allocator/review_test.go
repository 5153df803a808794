package allocator

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A waiter behind a head that keeps the free licences cannot be granted what a preemption
// frees: preempting for it ends a holder for nothing.
func TestReviewPreemptionBehindAHead(t *testing.T) {
	for _, grace := range []time.Duration{0, 30 * time.Second} {
		p := sessionsPool(4, preempting(grace), withLedger("v1", "v2", "v2/2", "v2/3"))
		ss := []Session{
			session("v1", 0, "lena", active(0), priority(1)),
			session("v2", 1, "hugo", active(1), priority(3), count(3)),
			session("head", 2, "hana", priority(2), count(4)),
			session("p", 3, "pia", priority(2)),
		}
		res := Decide(p, nil, ss, at(10*time.Second))
		got := sessionPhases(ss, res)
		want := map[string]string{"v1": "Active", "v2": "Active", "head": "Waiting/1", "p": "Waiting/2"}
		if diff := cmp.Diff(want, got); diff != "" || res.Sessions[0].PreemptedBy != "" {
			t.Errorf("grace %s: phases (-want +got):\n%s v1 preemptedBy %q; p: %q", grace, diff, res.Sessions[0].PreemptedBy, res.Sessions[3].Message)
		}
	}
}
