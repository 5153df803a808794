package allocator

import (
	"strings"
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

// A holder whose notice for one waiter is dropped (it no longer waits) and that is preempted
// for another in the same pass gets a new notice: that is a transition (event, fresh read).
func TestReviewRenoticeIsATransition(t *testing.T) {
	p := sessionsPool(1, preempting(30*time.Second), withLedger("low"))
	ss := []Session{
		session("low", 0, "lena", active(0), func(s *Session) { s.EndsAt, s.PreemptedBy = atp(35*time.Second), "gone" }),
		session("v2", 5, "vic", priority(5)),
	}
	res := Decide(p, nil, ss, at(10*time.Second))
	r := res.Sessions[0]
	if r.PreemptedBy != "v2" || r.EndsAt == nil {
		t.Fatalf("low: preemptedBy %q endsAt %v", r.PreemptedBy, r.EndsAt)
	}
	if r.Transition != SessionNoticed || !res.NeedsFreshRead {
		t.Errorf("low is noticed for v2 anew (ends %v, was %v) with transition %q, fresh read %v", r.EndsAt, ss[0].EndsAt, r.Transition, res.NeedsFreshRead)
	}
}

// With overdraft a session that asks for more than is free was told "3 free of 2": more free
// licences than the limit. The overdraft is named with the limit.
func TestReviewFreeOfLimitWithOverdraft(t *testing.T) {
	for _, reject := range []bool{false, true} {
		p := sessionsPool(2, withLedger("a"), func(p *Pool) { p.Policy.Overdraft, p.Policy.Reject = 2, reject })
		ss := []Session{session("a", 0, "alice", active(0)), session("big", 1, "bob", count(4))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if m := res.Sessions[1].Message; !strings.Contains(m, "3 free of 2 (with 2 of overdraft)") && !strings.Contains(m, "3 of 2 (with 2 of overdraft) free") {
			t.Errorf("reject %v: %q", reject, m)
		}
	}
}

// A notice of preemption for a waiter that may never hold what it asks (a cap lowered since)
// is withdrawn: the holder would end for nothing.
func TestReviewPreemptionForAWaiterThatNeverFits(t *testing.T) {
	p := sessionsPool(2, preempting(30*time.Second), withLedger("low", "high"), func(p *Pool) { p.Policy.MaxPerHolder = 1 })
	ss := []Session{
		session("low", 0, "lena", active(0), func(s *Session) { s.EndsAt, s.PreemptedBy = atp(35*time.Second), "big" }),
		session("high", 1, "hugo", active(1), priority(9)),
		session("big", 2, "boss", priority(5), count(2)),
	}
	res := Decide(p, nil, ss, at(10*time.Second))
	if r := res.Sessions[0]; r.PreemptedBy != "" || r.EndsAt != nil {
		t.Errorf("low is still under notice for big (%q, %v), which asks for more than maxPerHolder allows: %q; big: %q",
			r.PreemptedBy, r.EndsAt, r.Message, res.Sessions[2].Message)
	}
}
