package allocator

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func count(n int32) func(*Session) { return func(s *Session) { s.Count = n } }

func waiting(s *Session) { s.Phase = v1alpha1.SessionWaiting }

// TestMultiLicenceSessions covers sessions that take several licences at once (spec.count):
// all or none, freed together, the head of the queue keeping what frees until it fits, and a
// session larger than the pool holding nobody up.
func TestMultiLicenceSessions(t *testing.T) {
	tests := []struct {
		name       string
		pool       Pool
		sessions   []Session
		now        time.Duration
		want       map[string]string
		wantLedger []string
		wantActive int32
		wantMsg    map[string]string
	}{
		{
			name:       "a session is granted all its licences when they are free at once",
			pool:       sessionsPool(5),
			sessions:   []Session{session("a", 0, "alice", count(3)), session("b", 1, "bob", count(2))},
			want:       map[string]string{"a": "Active", "b": "Active"},
			wantLedger: []string{"a", "a/2", "a/3", "b", "b/2"},
			wantActive: 5,
			wantMsg:    map[string]string{"a": "alice holds 3 shared licences of pool remote-support"},
		},
		{
			name:       "none when not all are free: it waits and says how many it needs",
			pool:       sessionsPool(5, withLedger("x", "y", "z")),
			sessions:   []Session{session("x", 0, "xena", active(0)), session("y", 0, "yann", active(0)), session("z", 0, "zoe", active(0)), session("a", 1, "alice", count(4))},
			want:       map[string]string{"x": "Active", "y": "Active", "z": "Active", "a": "Waiting/1"},
			wantLedger: []string{"x", "y", "z"},
			wantActive: 3,
			wantMsg:    map[string]string{"a": "waiting for 4 shared licences of pool remote-support; 2 free of 5; waiting at position 1 of 1"},
		},
		{
			name: "the head keeps what is free: nobody behind it is granted, whatever they ask for",
			pool: sessionsPool(5, withLedger("x", "y", "z")),
			sessions: []Session{session("x", 0, "xena", active(0)), session("y", 0, "yann", active(0)), session("z", 0, "zoe", active(0)),
				session("a", 1, "alice", count(4)), session("b", 2, "bob"), session("c", 3, "carol", count(2))},
			want:       map[string]string{"x": "Active", "y": "Active", "z": "Active", "a": "Waiting/1", "b": "Waiting/2", "c": "Waiting/3"},
			wantLedger: []string{"x", "y", "z"},
			wantActive: 3,
			wantMsg: map[string]string{
				"b": "waiting for 1 shared licence of pool remote-support; 2 free, kept for the session at the head of the queue until it fits; waiting at position 2 of 3",
				"c": "waiting for 2 shared licences of pool remote-support; 2 free, kept for the session at the head of the queue until it fits; waiting at position 3 of 3"},
		},
		{
			name: "freed together: when the big one ends, the queue behind it is served",
			pool: sessionsPool(4, withLedger("a", "a/2", "a/3", "a/4")),
			sessions: []Session{session("a", 0, "alice", count(4), active(0), func(s *Session) { s.Terminate = true }),
				session("b", 1, "bob", count(2), waiting), session("c", 2, "carol", waiting), session("d", 3, "dan", count(2), waiting)},
			want:       map[string]string{"a": "Ended/Terminated", "b": "Active", "c": "Active", "d": "Waiting/1"},
			wantLedger: []string{"b", "b/2", "c"},
			wantActive: 3,
		},
		{
			name: "once licences free up the head takes them, and only then the next",
			pool: sessionsPool(5, withLedger("y", "z")),
			sessions: []Session{session("y", 0, "yann", active(0)), session("z", 0, "zoe", active(0)),
				session("a", 1, "alice", count(3), waiting), session("b", 2, "bob", waiting)},
			want:       map[string]string{"y": "Active", "z": "Active", "a": "Active", "b": "Waiting/1"},
			wantLedger: []string{"a", "a/2", "a/3", "y", "z"},
			wantActive: 5,
		},
		{
			name: "a higher priority that arrives goes ahead of a waiting head, as of anyone",
			pool: sessionsPool(3, withLedger("x")),
			sessions: []Session{session("x", 0, "xena", active(0)), session("a", 1, "alice", count(3), waiting),
				session("vip", 5, "boss", func(s *Session) { s.Priority = 10 })},
			want:       map[string]string{"x": "Active", "vip": "Active", "a": "Waiting/1"},
			wantActive: 2,
		},
		{
			name: "a session larger than the whole pool waits aside and holds nobody up",
			pool: sessionsPool(3, withLedger("x")),
			sessions: []Session{session("x", 0, "xena", active(0)), session("big", 1, "alice", count(4)),
				session("b", 2, "bob"), session("c", 3, "carol", count(2)), session("d", 4, "dan")},
			want:       map[string]string{"x": "Active", "big": "Waiting/1", "b": "Active", "c": "Waiting/2", "d": "Waiting/3"},
			wantLedger: []string{"b", "x"},
			wantActive: 2,
			wantMsg: map[string]string{
				"big": "asks for 4 shared licences but pool remote-support has only 3 in all; waiting at position 1 of 3 without holding up the queue, until the pool's limit grows",
				"c":   "waiting for 2 shared licences of pool remote-support; 1 free of 3; waiting at position 2 of 3",
				"d":   "waiting for 1 shared licence of pool remote-support; 1 free, kept for the session at the head of the queue until it fits; waiting at position 3 of 3"},
		},
		{
			name:       "with whenExhausted Reject a session that does not fit is turned away, and the next that fits is granted",
			pool:       sessionsPool(3, withLedger("x"), func(p *Pool) { p.Policy.Reject = true }),
			sessions:   []Session{session("x", 0, "xena", active(0)), session("a", 1, "alice", count(3)), session("big", 2, "bob", count(9)), session("c", 3, "carol", count(2))},
			want:       map[string]string{"x": "Active", "a": "Ended/Rejected", "big": "Ended/Rejected", "c": "Active"},
			wantActive: 3,
			wantMsg: map[string]string{
				"a":   "asked for 3 shared licences of pool remote-support, all at once; 2 of 3 free, and the pool turns sessions away when full (whenExhausted: Reject)",
				"big": "asked for 9 shared licences but pool remote-support has only 3 in all, and the pool turns away sessions it cannot serve (whenExhausted: Reject)"},
		},
		{
			name:       "a session the ledger records only in part does not hold: it is decided again",
			pool:       sessionsPool(3, withLedger("a", "a/3")),
			sessions:   []Session{session("a", 1, "alice", count(3), active(0)), session("b", 0, "bob", count(2))},
			want:       map[string]string{"a": "Waiting/1", "b": "Active"},
			wantLedger: []string{"b", "b/2"},
			wantActive: 2,
		},
		{
			name: "a limit that drops takes back the newest grants until the rest fit, in licences",
			pool: sessionsPool(3, withLedger("a", "a/2", "b", "c", "c/2")),
			sessions: []Session{session("a", 0, "alice", count(2), active(0)), session("b", 0, "bob", active(1)),
				session("c", 0, "carol", count(2), active(2))},
			now:        5 * time.Second,
			want:       map[string]string{"a": "Active", "b": "Active", "c": "Ended/CapacityReduced"},
			wantLedger: []string{"a", "a/2", "b"},
			wantActive: 3,
		},
		{
			name: "countBy Holder: a holder uses the largest count among its sessions",
			pool: sessionsPool(5, withLedger("a1", "a1/2"), func(p *Pool) { p.Policy.CountByHolder = true }),
			sessions: []Session{session("a1", 0, "alice", count(2), active(0)), session("a2", 1, "alice"),
				session("a3", 2, "alice", count(3)), session("b", 3, "bob", count(2)), session("c", 4, "carol")},
			want:       map[string]string{"a1": "Active", "a2": "Active", "a3": "Active", "b": "Active", "c": "Waiting/1"},
			wantActive: 5, // alice 3 (her largest), bob 2
		},
		{
			name: "countBy Holder: a session its holder's licences already cover is granted behind a waiting head",
			pool: sessionsPool(4, withLedger("a1", "a1/2", "x"), func(p *Pool) { p.Policy.CountByHolder = true }),
			sessions: []Session{session("a1", 0, "alice", count(2), active(0)), session("x", 0, "xena", active(0)),
				session("b", 1, "bob", count(3)), session("a2", 2, "alice", count(2)), session("c", 3, "carol")},
			want:       map[string]string{"a1": "Active", "x": "Active", "b": "Waiting/1", "a2": "Active", "c": "Waiting/2"},
			wantActive: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, nil, tc.sessions, at(tc.now))
			if diff := cmp.Diff(tc.want, sessionPhases(tc.sessions, res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			if tc.wantLedger != nil {
				if diff := cmp.Diff(tc.wantLedger, res.SessionLedger); diff != "" {
					t.Errorf("ledger (-want +got):\n%s", diff)
				}
			}
			if res.Usage.SessionsActive != tc.wantActive {
				t.Errorf("licences in use = %d, want %d", res.Usage.SessionsActive, tc.wantActive)
			}
			for i, s := range tc.sessions {
				if want, ok := tc.wantMsg[s.Name]; ok && res.Sessions[i].Message != want {
					t.Errorf("message of %s = %q, want %q", s.Name, res.Sessions[i].Message, want)
				}
			}
		})
	}
}

// TestHeadIsServedFirst plays a queue out: small sessions keep ending and arriving, and the
// large one at the head is still granted as soon as enough have freed, before any of them.
func TestHeadIsServedFirst(t *testing.T) {
	p := sessionsPool(4)
	ss := []Session{session("s0", 0, "u0"), session("s1", 0, "u1"), session("s2", 0, "u2"), session("s3", 0, "u3"),
		session("big", 1, "alice", count(3))}
	now := 2 * time.Second
	next := 4
	for round := range 6 {
		res := Decide(p, nil, ss, at(now))
		p, _, ss = applied(p, nil, ss, res)
		for _, s := range ss {
			if s.Name == "big" && s.Phase == v1alpha1.SessionActive {
				if round < 3 {
					t.Fatalf("big was granted in round %d, before 3 licences were free", round)
				}
				return
			}
		}
		// One small holder leaves, one more arrives behind the big one.
		for i := range ss {
			if ss[i].Phase == v1alpha1.SessionActive && !ss[i].Terminate {
				ss[i].Terminate = true
				break
			}
		}
		ss = append(ss, session(fmt.Sprintf("s%d", next), now, fmt.Sprintf("u%d", next)))
		next++
		now += time.Second
	}
	t.Fatal("the big session at the head was never granted")
}
