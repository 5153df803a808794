package allocator

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"alice", "alice", true},
		{"alice", "alice2", false},
		{"sim-batch-*", "sim-batch-7f9c-x2", true},
		{"sim-batch-*", "sim-batch-", true},
		{"sim-batch-*", "sim-other-1", false},
		{"*@cfd.acme.example", "Bob@CFD.acme.example", true},
		{"*-x2", "sim-batch-7f9c-x2", true},
		{"sim-*-x*", "sim-batch-7f9c-x2", true},
		{"sim-*-y*", "sim-batch-7f9c-x2", false},
		{"*", "anyone", true},
		{"a*a", "a", false},
		{"a*a", "aa", true},
	}
	for _, tc := range tests {
		if got := matchesAny([]string{tc.pattern}, tc.name); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func withGroups(groups ...Group) func(*Pool) { return func(p *Pool) { p.Groups = groups } }

func priority(n int32) func(*Session) { return func(s *Session) { s.Priority = n } }

// TestPolicies covers the pool's rules one by one: reservations, caps per group and per holder,
// overdraft and preemption.
func TestPolicies(t *testing.T) {
	cfd := Group{Name: "cfd", Members: []string{"sim-*"}, Reserved: 2}
	tests := []struct {
		name     string
		pool     Pool
		sessions []Session
		now      time.Duration
		want     map[string]string
		wantMsg  map[string]string // a substring of the message
		check    func(t *testing.T, sessions []Session, res Result)
	}{
		{
			name:     "a reservation is kept for its members: others use only the common licences",
			pool:     sessionsPool(3, withGroups(cfd)),
			sessions: []Session{session("a", 0, "alice"), session("b", 1, "bob"), session("s1", 2, "sim-1"), session("s2", 3, "sim-2")},
			want:     map[string]string{"a": "Active", "b": "Waiting/1", "s1": "Active", "s2": "Active"},
			wantMsg:  map[string]string{"b": "the one shared licence of pool remote-support that is not reserved for groups is in use (2 reserved)"},
			check: func(t *testing.T, _ []Session, res Result) {
				want := []GroupUsage{{Name: "cfd", Reserved: 2, SessionsActive: 2}}
				if diff := cmp.Diff(want, res.Usage.Groups); diff != "" {
					t.Errorf("groups (-want +got):\n%s", diff)
				}
				if res.Usage.Reserved != 2 || !res.ReservationsFit {
					t.Errorf("reserved %d, fit %v", res.Usage.Reserved, res.ReservationsFit)
				}
			},
		},
		{
			name:     "members use their reservation first, then the common licences",
			pool:     sessionsPool(3, withGroups(cfd)),
			sessions: []Session{session("s1", 0, "sim-1"), session("s2", 1, "sim-2"), session("s3", 2, "sim-3"), session("a", 3, "alice")},
			want:     map[string]string{"s1": "Active", "s2": "Active", "s3": "Active", "a": "Waiting/1"},
		},
		{
			name: "a member is granted from its reservation while one who is not waits at the head",
			pool: sessionsPool(3, withGroups(cfd), withLedger("x")),
			sessions: []Session{session("x", 0, "xena", active(0)), session("a", 1, "alice"),
				session("s1", 2, "sim-1")},
			want: map[string]string{"x": "Active", "a": "Waiting/1", "s1": "Active"},
		},
		{
			name:     "the first group that matches a holder is its group",
			pool:     sessionsPool(4, withGroups(Group{Name: "first", Members: []string{"sim-1"}, MaxSessions: lim(0)}, cfd)),
			sessions: []Session{session("s1", 0, "sim-1"), session("s2", 1, "sim-2")},
			want:     map[string]string{"s1": "Waiting/1", "s2": "Active"},
			wantMsg:  map[string]string{"s1": "group first may use at most 0 shared licences of pool remote-support (maxSessions)"},
		},
		{
			name: "a group's cap names itself, and the capped session holds nobody up",
			pool: sessionsPool(5, withGroups(Group{Name: "cfd", Members: []string{"sim-*"}, MaxSessions: lim(1)})),
			sessions: []Session{session("s1", 0, "sim-1"), session("s2", 1, "sim-2"),
				session("a", 2, "alice")},
			want: map[string]string{"s1": "Active", "s2": "Waiting/1", "a": "Active"},
			wantMsg: map[string]string{"s2": "waiting for 1 shared licence: group cfd may use at most 1 shared licence of pool remote-support (maxSessions) and uses 1; " +
				"waiting at position 1 of 1 without holding up the queue"},
		},
		{
			name:     "maxPerHolder caps one holder, and names the cap",
			pool:     sessionsPool(5, func(p *Pool) { p.Policy.MaxPerHolder = 2 }),
			sessions: []Session{session("a1", 0, "alice"), session("a2", 1, "alice"), session("a3", 2, "alice"), session("b", 3, "bob", count(2))},
			want:     map[string]string{"a1": "Active", "a2": "Active", "a3": "Waiting/1", "b": "Active"},
			wantMsg:  map[string]string{"a3": "alice may use at most 2 shared licences of pool remote-support at once (maxPerHolder) and uses 2"},
		},
		{
			name:     "a session larger than the cap per holder waits aside, saying so",
			pool:     sessionsPool(5, func(p *Pool) { p.Policy.MaxPerHolder = 2 }),
			sessions: []Session{session("a", 0, "alice", count(3)), session("b", 1, "bob")},
			want:     map[string]string{"a": "Waiting/1", "b": "Active"},
			wantMsg:  map[string]string{"a": "asks for 3 shared licences but alice may use at most 2 shared licences of pool remote-support at once (maxPerHolder)"},
		},
		{
			name:     "with whenExhausted Reject a capped session is turned away with the cap's words",
			pool:     sessionsPool(5, func(p *Pool) { p.Policy.MaxPerHolder = 1; p.Policy.Reject = true }),
			sessions: []Session{session("a1", 0, "alice"), session("a2", 1, "alice")},
			want:     map[string]string{"a1": "Active", "a2": "Ended/Rejected"},
			wantMsg:  map[string]string{"a2": "alice may use at most 1 shared licence of pool remote-support at once (maxPerHolder) and uses 1"},
		},
		{
			name:     "overdraft grants beyond the limit, marks them, and goes no further",
			pool:     sessionsPool(2, func(p *Pool) { p.Policy.Overdraft = 1 }),
			sessions: []Session{session("a", 0, "alice"), session("b", 1, "bob"), session("c", 2, "carol"), session("d", 3, "dan")},
			want:     map[string]string{"a": "Active", "b": "Active", "c": "Active", "d": "Waiting/1"},
			wantMsg: map[string]string{"c": "carol holds a shared licence of pool remote-support, beyond its limit of 2 (overdraft)",
				"d": "all 2 shared licences of pool remote-support and its 1 of overdraft are in use"},
			check: func(t *testing.T, _ []Session, res Result) {
				if !res.Sessions[2].Overdraft || res.Sessions[0].Overdraft || res.Sessions[1].Overdraft {
					t.Errorf("overdraft marks %v %v %v, want only c", res.Sessions[0].Overdraft, res.Sessions[1].Overdraft, res.Sessions[2].Overdraft)
				}
				if res.Usage.SessionsOverdraft != 1 || res.Usage.Overdraft != 1 || res.Usage.SessionsActive != 3 {
					t.Errorf("usage %+v", res.Usage)
				}
			},
		},
		{
			name: "a licence that frees covers the overdraft first: the mark moves off",
			pool: sessionsPool(2, func(p *Pool) { p.Policy.Overdraft = 1 }, withLedger("a", "b", "c")),
			sessions: []Session{session("a", 0, "alice", active(0), func(s *Session) { s.Terminate = true }),
				session("b", 1, "bob", active(1)), session("c", 2, "carol", active(2))},
			now:  10 * time.Second,
			want: map[string]string{"a": "Ended/Terminated", "b": "Active", "c": "Active"},
			check: func(t *testing.T, _ []Session, res Result) {
				if res.Sessions[2].Overdraft || res.Usage.SessionsOverdraft != 0 {
					t.Errorf("c still marked overdraft (%v), overdraft in use %d", res.Sessions[2].Overdraft, res.Usage.SessionsOverdraft)
				}
			},
		},
		{
			name: "a lowered limit takes the overdraft back first",
			pool: sessionsPool(1, func(p *Pool) { p.Policy.Overdraft = 1 }, withLedger("a", "b", "c")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1)),
				session("c", 2, "carol", active(2))},
			now:  10 * time.Second,
			want: map[string]string{"a": "Active", "b": "Active", "c": "Ended/CapacityReduced"},
		},
		{
			name: "a raised reservation takes back the newest common licences of others",
			pool: sessionsPool(3, withGroups(cfd), withLedger("a", "b", "c")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1)),
				session("c", 2, "carol", active(2))},
			now:     10 * time.Second,
			want:    map[string]string{"a": "Active", "b": "Ended/CapacityReduced", "c": "Ended/CapacityReduced"},
			wantMsg: map[string]string{"b": "2 of pool remote-support's shared licences are now reserved for groups, leaving 1 for everyone"},
		},
		{
			name: "a lowered group cap takes back the group's newest",
			pool: sessionsPool(5, withGroups(Group{Name: "cfd", Members: []string{"sim-*"}, MaxSessions: lim(1)}), withLedger("s1", "s2", "a")),
			sessions: []Session{session("s1", 0, "sim-1", active(0)), session("s2", 1, "sim-2", active(5)),
				session("a", 2, "alice", active(6))},
			now:     10 * time.Second,
			want:    map[string]string{"s1": "Active", "s2": "Ended/CapacityReduced", "a": "Active"},
			wantMsg: map[string]string{"s2": "group cfd may now use at most 1 shared licence of pool remote-support (maxSessions)"},
		},
		{
			name:     "reservations beyond the limit are honoured in the groups' order, and said so",
			pool:     sessionsPool(2, withGroups(Group{Name: "one", Members: []string{"a*"}, Reserved: 2}, Group{Name: "two", Members: []string{"b*"}, Reserved: 1})),
			sessions: []Session{session("b", 0, "bob"), session("a", 1, "amy")},
			want:     map[string]string{"b": "Waiting/1", "a": "Active"},
			check: func(t *testing.T, _ []Session, res Result) {
				if res.ReservationsFit || !strings.Contains(res.ReservationsMessage, "honoured in the groups' order") || res.Usage.Reserved != 2 {
					t.Errorf("fit %v, reserved %d, message %q", res.ReservationsFit, res.Usage.Reserved, res.ReservationsMessage)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, nil, tc.sessions, at(tc.now))
			if diff := cmp.Diff(tc.want, sessionPhases(tc.sessions, res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			for i, s := range tc.sessions {
				if want, ok := tc.wantMsg[s.Name]; ok && !strings.Contains(res.Sessions[i].Message, want) {
					t.Errorf("message of %s = %q, want it to say %q", s.Name, res.Sessions[i].Message, want)
				}
			}
			if tc.check != nil {
				tc.check(t, tc.sessions, res)
			}
		})
	}
}

func preempting(grace time.Duration) func(*Pool) {
	return func(p *Pool) { p.Policy.Preempt, p.Policy.PreemptGrace = true, grace }
}

// TestPreemption plays preemption out over time: the notice, its end, and the cases where
// nobody is preempted.
func TestPreemption(t *testing.T) {
	t.Run("the newest lower-priority holder gets a notice, then ends Preempted and the waiter is granted", func(t *testing.T) {
		p := sessionsPool(2, preempting(30*time.Second), withLedger("old", "new"))
		ss := []Session{session("old", 0, "olga", active(0)), session("new", 1, "nina", active(1)),
			session("vip", 5, "boss", priority(10))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if diff := cmp.Diff(map[string]string{"old": "Active", "new": "Active", "vip": "Waiting/1"}, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("phases (-want +got):\n%s", diff)
		}
		r := res.Sessions[1]
		if r.PreemptedBy != "vip" || r.EndsAt == nil || !r.EndsAt.Equal(at(40*time.Second)) || r.Transition != SessionNoticed {
			t.Fatalf("new: preemptedBy %q endsAt %v transition %q", r.PreemptedBy, r.EndsAt, r.Transition)
		}
		if !strings.Contains(r.Message, "session vip, of higher priority (10 over 0), takes its licence") {
			t.Errorf("notice message %q", r.Message)
		}
		if !strings.Contains(res.Sessions[2].Message, "new gives back its licences to this session at") {
			t.Errorf("waiter's message %q", res.Sessions[2].Message)
		}
		if !res.Next.Equal(at(40 * time.Second)) {
			t.Errorf("next %v, want the end of the notice", res.Next)
		}
		p, _, ss = applied(p, nil, ss, res)
		res = Decide(p, nil, ss, at(40*time.Second))
		want := map[string]string{"old": "Active", "new": "Ended/Preempted", "vip": "Active"}
		if diff := cmp.Diff(want, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("after the grace period (-want +got):\n%s", diff)
		}
	})
	t.Run("without a grace period the holder ends at once and the waiter is granted in the same pass", func(t *testing.T) {
		p := sessionsPool(1, preempting(0), withLedger("low"))
		ss := []Session{session("low", 0, "lena", active(0)), session("vip", 5, "boss", priority(1))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if diff := cmp.Diff(map[string]string{"low": "Ended/Preempted", "vip": "Active"}, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("phases (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"vip"}, res.SessionLedger); diff != "" {
			t.Errorf("ledger (-want +got):\n%s", diff)
		}
	})
	t.Run("never within the same priority", func(t *testing.T) {
		p := sessionsPool(1, preempting(0), withLedger("a"))
		ss := []Session{session("a", 0, "alice", active(0), priority(3)), session("b", 5, "bob", priority(3))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if diff := cmp.Diff(map[string]string{"a": "Active", "b": "Waiting/1"}, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("phases (-want +got):\n%s", diff)
		}
	})
	t.Run("a holder under notice for one waiter is not taken by another", func(t *testing.T) {
		p := sessionsPool(2, preempting(30*time.Second), withLedger("l1", "l2"))
		ss := []Session{session("l1", 0, "lena", active(0)), session("l2", 1, "leo", active(1), func(s *Session) {
			s.EndsAt, s.PreemptedBy = atp(35*time.Second), "v1"
		}), session("v1", 2, "vera", priority(5)), session("v2", 3, "vic", priority(5))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if got := res.Sessions[1].PreemptedBy; got != "v1" {
			t.Errorf("l2 preempted by %q, want still v1", got)
		}
		if got := res.Sessions[0].PreemptedBy; got != "v2" {
			t.Errorf("l1 preempted by %q, want v2", got)
		}
	})
	t.Run("a notice is withdrawn when its waiter no longer waits", func(t *testing.T) {
		p := sessionsPool(1, preempting(30*time.Second), withLedger("low"))
		ss := []Session{session("low", 0, "lena", active(0), func(s *Session) { s.EndsAt, s.PreemptedBy = atp(35*time.Second), "gone" })}
		res := Decide(p, nil, ss, at(10*time.Second))
		if r := res.Sessions[0]; r.Phase != v1alpha1.SessionActive || r.EndsAt != nil || r.PreemptedBy != "" || r.Message != "lena holds a shared licence of pool remote-support" {
			t.Errorf("low: %+v", r)
		}
	})
	t.Run("nobody is preempted when it would not make the waiter fit", func(t *testing.T) {
		p := sessionsPool(2, preempting(0), withLedger("low", "high"))
		ss := []Session{session("low", 0, "lena", active(0)), session("high", 1, "hugo", active(1), priority(9)),
			session("big", 5, "boss", priority(5), count(2))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if diff := cmp.Diff(map[string]string{"low": "Active", "high": "Active", "big": "Waiting/1"}, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("phases (-want +got):\n%s", diff)
		}
	})
	t.Run("a waiter held at a cap preempts nobody: it waits for its own to use fewer", func(t *testing.T) {
		p := sessionsPool(2, preempting(0), withLedger("m", "o"), func(p *Pool) { p.Policy.MaxPerHolder = 1 })
		ss := []Session{session("m", 0, "maria", active(0)), session("o", 1, "otto", active(1)),
			session("m2", 5, "maria", priority(5))}
		res := Decide(p, nil, ss, at(10*time.Second))
		if diff := cmp.Diff(map[string]string{"m": "Active", "o": "Active", "m2": "Waiting/1"}, sessionPhases(ss, res)); diff != "" {
			t.Fatalf("phases (-want +got):\n%s", diff)
		}
	})
}

// TestSeatGroupCaps covers a group's cap on named seats.
func TestSeatGroupCaps(t *testing.T) {
	grp := withGroups(Group{Name: "cfd", Members: []string{"*@cfd.example"}, MaxSeats: lim(1)})
	seatPool := func(mut ...func(*Pool)) Pool {
		return pool(append([]func(*Pool){func(p *Pool) { p.SeatLimit = lim(5) }}, mut...)...)
	}
	tests := []struct {
		name    string
		pool    Pool
		seats   []Seat
		want    map[string]string
		wantMsg map[string]string
	}{
		{
			name:  "a group's members hold at most its maxSeats; others bind",
			pool:  seatPool(grp),
			seats: []Seat{seat("a", 0, "ann@cfd.example"), seat("b", 1, "Ben@CFD.example"), seat("c", 2, "carl@else.example")},
			want: map[string]string{"a": "Bound/SeatGranted", "b": "Pending/GroupLimitReached",
				"c": "Bound/SeatGranted"},
			wantMsg: map[string]string{"b": "group cfd may hold at most 1 seat of pool remote-support (maxSeats) and holds 1"},
		},
		{
			name:  "a lowered cap takes back the group's most recently bound seat",
			pool:  seatPool(grp, func(p *Pool) { p.SeatLedger = []string{"a", "b"} }),
			seats: []Seat{seat("a", 0, "ann@cfd.example", bound(1)), seat("b", 1, "ben@cfd.example", bound(2))},
			want:  map[string]string{"a": "Bound/SeatGranted", "b": "Pending/GroupLimitReached"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, tc.seats, nil, at(10*time.Second))
			if diff := cmp.Diff(tc.want, seatPhases(tc.seats, res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			for i, s := range tc.seats {
				if want, ok := tc.wantMsg[s.Name]; ok && !strings.Contains(res.Seats[i].Message, want) {
					t.Errorf("message of %s = %q, want it to say %q", s.Name, res.Seats[i].Message, want)
				}
			}
			if got := res.Usage.Groups[0].SeatsBound; got != 1 {
				t.Errorf("the group's seats bound = %d, want 1", got)
			}
		})
	}
}
