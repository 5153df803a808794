package allocator

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func sessionsPool(limit int32, mut ...func(*Pool)) Pool {
	return pool(append([]func(*Pool){func(p *Pool) { p.SessionLimit = lim(limit) }}, mut...)...)
}

func withLedger(names ...string) func(*Pool) {
	return func(p *Pool) { p.SessionLedger = append([]string{}, names...) }
}

func TestSessions(t *testing.T) {
	hb := DefaultPolicy.HeartbeatTimeout
	tests := []struct {
		name       string
		pool       Pool
		seats      []Seat
		sessions   []Session
		now        time.Duration
		want       map[string]string
		wantLedger []string
		wantNext   time.Duration // 0: not checked
		wantMsg    map[string]string
	}{
		{
			name:       "grants up to the limit and queues the rest with positions",
			pool:       sessionsPool(2),
			sessions:   []Session{session("a", 0, "alice"), session("b", 1, "bob"), session("c", 2, "carol"), session("d", 3, "dan")},
			want:       map[string]string{"a": "Active", "b": "Active", "c": "Waiting/1", "d": "Waiting/2"},
			wantLedger: []string{"a", "b"},
			wantMsg: map[string]string{
				"c": "all 2 shared licences of pool remote-support are in use; waiting at position 1 of 2",
				"a": "alice holds a shared licence of pool remote-support"},
		},
		{
			name:       "unlimited pools grant everyone and keep no ledger",
			pool:       pool(),
			sessions:   []Session{session("a", 0, "alice"), session("b", 1, "bob")},
			want:       map[string]string{"a": "Active", "b": "Active"},
			wantLedger: nil,
		},
		{
			name:     "higher priority jumps the queue; equals keep creation order, then name",
			pool:     sessionsPool(1, withLedger("x")),
			sessions: []Session{session("x", 0, "xena", active(0)), session("b", 1, "bob"), session("a", 1, "amy"), session("vip", 5, "boss", func(s *Session) { s.Priority = 10 }), session("c", 0, "carol")},
			want:     map[string]string{"x": "Active", "vip": "Waiting/1", "c": "Waiting/2", "a": "Waiting/3", "b": "Waiting/4"},
		},
		{
			name:       "a freed licence goes to the head of the queue",
			pool:       sessionsPool(1, withLedger("a")),
			sessions:   []Session{session("a", 0, "alice", active(0), func(s *Session) { s.Terminate = true }), session("b", 1, "bob", func(s *Session) { s.Phase, s.QueuePosition = v1alpha1.SessionWaiting, 1 }), session("c", 2, "carol")},
			now:        10 * time.Second,
			want:       map[string]string{"a": "Ended/Terminated", "b": "Active", "c": "Waiting/1"},
			wantLedger: []string{"b"},
		},
		{
			name:       "no heartbeat within the timeout ends an active session and a waiting one",
			pool:       sessionsPool(1, withLedger("a")),
			sessions:   []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", renewed(30*time.Second)), session("c", 2, "carol")},
			now:        hb + 2,
			want:       map[string]string{"a": "Ended/HeartbeatExpired", "b": "Active", "c": "Ended/HeartbeatExpired"},
			wantLedger: []string{"b"},
		},
		{
			name:     "a renewal moves the heartbeat deadline",
			pool:     sessionsPool(1, withLedger("a")),
			sessions: []Session{session("a", 0, "alice", active(0), renewed(50*time.Second))},
			now:      hb,
			want:     map[string]string{"a": "Active"},
			wantNext: 50*time.Second + hb,
		},
		{
			name: "idle past the idle timeout ends, counted from the later of grant and state change",
			pool: sessionsPool(5, withLedger("a", "b", "c"), func(p *Pool) { p.Policy.IdleTimeout = 30 * time.Second }),
			sessions: []Session{
				session("a", 0, "alice", active(0), renewed(40*time.Second)),
				session("b", 0, "bob", active(0), renewed(40*time.Second), func(s *Session) { s.StateChangedAt = atp(20 * time.Second) }),
				session("c", 0, "carol", active(0), renewed(40*time.Second), func(s *Session) {
					s.State, s.ObservedState = v1alpha1.SessionConnected, v1alpha1.SessionConnected
				}),
			},
			now:      40 * time.Second,
			want:     map[string]string{"a": "Ended/IdleTimeout", "b": "Active", "c": "Active"},
			wantNext: 50 * time.Second,
		},
		{
			name:     "a new state restarts the idle clock",
			pool:     sessionsPool(5, withLedger("a"), func(p *Pool) { p.Policy.IdleTimeout = 30 * time.Second }),
			sessions: []Session{session("a", 0, "alice", active(0), renewed(40*time.Second), func(s *Session) { s.ObservedState = v1alpha1.SessionConnected })},
			now:      40 * time.Second,
			want:     map[string]string{"a": "Active"},
			wantNext: 70 * time.Second,
		},
		{
			name:     "active past the maximum duration ends",
			pool:     sessionsPool(5, withLedger("a", "b"), func(p *Pool) { p.Policy.MaxDuration = 20 * time.Second }),
			sessions: []Session{session("a", 0, "alice", active(0), renewed(25*time.Second)), session("b", 0, "bob", active(10*time.Second), renewed(25*time.Second))},
			now:      25 * time.Second,
			want:     map[string]string{"a": "Ended/MaxDurationExceeded", "b": "Active"},
			wantNext: 30 * time.Second,
		},
		{
			name:     "an expired pool ends every open session",
			pool:     sessionsPool(5, withLedger("a"), func(p *Pool) { p.ExpiresAt = atp(10 * time.Second) }),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob")},
			now:      10 * time.Second,
			want:     map[string]string{"a": "Ended/PoolExpired", "b": "Ended/PoolExpired"},
		},
		{
			name:     "no pool ends open sessions",
			pool:     Pool{Name: "gone", Policy: DefaultPolicy},
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob")},
			want:     map[string]string{"a": "Ended/PoolNotFound", "b": "Ended/PoolNotFound"},
			wantMsg:  map[string]string{"b": "pool gone does not exist in this namespace"},
		},
		{
			name:     "requireSeat admits only holders with a bound seat",
			pool:     sessionsPool(5, func(p *Pool) { p.Policy.RequireSeat = true; p.SeatLimit = lim(1) }),
			seats:    []Seat{seat("seat-alice", 0, "alice"), seat("seat-bob", 1, "bob")},
			sessions: []Session{session("a", 0, "alice"), session("b", 1, "bob"), session("c", 2, "carol")},
			want:     map[string]string{"a": "Active", "b": "Ended/NotEntitled", "c": "Ended/NotEntitled"},
			wantMsg:  map[string]string{"c": "carol has no Bound seat in pool remote-support, which requires one for sessions (sessionPolicy.requireSeat)"},
		},
		{
			name:     "requireSeat: an e-mail-like holder matches its seat without regard to case",
			pool:     sessionsPool(5, func(p *Pool) { p.Policy.RequireSeat = true }),
			seats:    []Seat{seat("seat-alice", 0, "alice@acme.example"), seat("seat-bob", 1, "bob")},
			sessions: []Session{session("a", 0, "Alice@Acme.Example"), session("b", 1, "BOB")},
			want:     map[string]string{"a": "Active", "b": "Ended/NotEntitled"},
		},
		{
			name: "countBy Holder: a holder's sessions share one licence",
			pool: sessionsPool(2, withLedger("a1"), func(p *Pool) { p.Policy.CountByHolder = true }),
			sessions: []Session{session("a1", 0, "alice", active(0)), session("a2", 1, "alice"), session("b", 2, "bob"),
				session("c", 3, "carol"), session("a3", 4, "alice")},
			want:       map[string]string{"a1": "Active", "a2": "Active", "b": "Active", "c": "Waiting/1", "a3": "Active"},
			wantLedger: []string{"a1", "a2", "a3", "b"},
		},
		{
			name:       "whenExhausted Reject ends newcomers that find no licence",
			pool:       sessionsPool(1, withLedger("a"), func(p *Pool) { p.Policy.Reject = true }),
			sessions:   []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob")},
			want:       map[string]string{"a": "Active", "b": "Ended/Rejected"},
			wantLedger: []string{"a"},
			wantMsg:    map[string]string{"b": "the one shared licence of pool remote-support is in use and the pool turns sessions away when full (whenExhausted: Reject)"},
		},
		{
			name: "a lower limit ends the most recently granted",
			pool: sessionsPool(2, withLedger("a", "b", "c", "d")),
			sessions: []Session{session("a", 0, "alice", active(10)), session("b", 1, "bob", active(40)),
				session("c", 2, "carol", active(20)), session("d", 3, "dan", active(30)), session("w", 4, "wes")},
			want:       map[string]string{"a": "Active", "b": "Ended/CapacityReduced", "c": "Active", "d": "Ended/CapacityReduced", "w": "Waiting/1"},
			wantLedger: []string{"a", "c"},
		},
		{
			name: "with countBy Holder a lower limit ends whole holders, newest first",
			pool: sessionsPool(1, withLedger("a1", "a2", "b1"), func(p *Pool) { p.Policy.CountByHolder = true }),
			sessions: []Session{session("a1", 0, "alice", active(10)), session("a2", 1, "alice", active(50)),
				session("b1", 2, "bob", active(20))},
			want:       map[string]string{"a1": "Active", "a2": "Active", "b1": "Ended/CapacityReduced"},
			wantLedger: []string{"a1", "a2"},
		},
		{
			name:     "ended sessions are kept for retainEnded, then deleted",
			pool:     sessionsPool(1, func(p *Pool) { p.Policy.RetainEnded = time.Hour }),
			sessions: []Session{session("old", 0, "a", func(s *Session) { s.Phase, s.EndedAt = v1alpha1.SessionEnded, atp(0) }), session("new", 0, "b", func(s *Session) { s.Phase, s.EndedAt = v1alpha1.SessionEnded, atp(30*time.Minute) })},
			now:      time.Hour,
			want:     map[string]string{"old": "Deleted", "new": "Ended/"},
			wantNext: 90 * time.Minute,
		},
		{
			name:     "a pool with no shared licences says so",
			pool:     sessionsPool(0),
			sessions: []Session{session("a", 0, "alice")},
			want:     map[string]string{"a": "Waiting/1"},
			wantMsg:  map[string]string{"a": "pool remote-support has no shared licences (concurrentSessions: 0); waiting at position 1 of 1"},
		},
		{
			name:       "a ledger grant not yet shown on the session is completed",
			pool:       sessionsPool(1, withLedger("b")),
			sessions:   []Session{session("a", 0, "alice"), session("b", 1, "bob", func(s *Session) { s.Phase = v1alpha1.SessionWaiting })},
			want:       map[string]string{"a": "Waiting/1", "b": "Active"},
			wantLedger: []string{"b"},
		},
		{
			name:       "an Active session the ledger does not list is queued again, not counted",
			pool:       sessionsPool(1, withLedger("b")),
			sessions:   []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1))},
			want:       map[string]string{"a": "Waiting/1", "b": "Active"},
			wantLedger: []string{"b"},
		},
		{
			name:     "a pool managed by another system changes no session",
			pool:     sessionsPool(1, func(p *Pool) { p.ManagedBy = "crm.example.com" }),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(0)), session("c", 1, "carol")},
			now:      10 * time.Hour,
			want:     map[string]string{"a": "Active", "b": "Active", "c": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, tc.seats, tc.sessions, at(tc.now))
			if diff := cmp.Diff(tc.want, sessionPhases(tc.sessions, res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			if tc.wantLedger != nil {
				if diff := cmp.Diff(tc.wantLedger, res.SessionLedger); diff != "" {
					t.Errorf("ledger (-want +got):\n%s", diff)
				}
			}
			if tc.wantNext != 0 && !res.Next.Equal(at(tc.wantNext)) {
				t.Errorf("next = %v, want %v", res.Next.Sub(t0), tc.wantNext)
			}
			for i, s := range tc.sessions {
				if want, ok := tc.wantMsg[s.Name]; ok && res.Sessions[i].Message != want {
					t.Errorf("message of %s = %q, want %q", s.Name, res.Sessions[i].Message, want)
				}
			}
		})
	}
}

func TestSessionUsage(t *testing.T) {
	p := sessionsPool(3, withLedger("a", "b"), func(p *Pool) { p.Policy.CountByHolder = true })
	ss := []Session{
		session("a", 0, "alice", active(0)),
		session("b", 0, "alice", active(0), func(s *Session) { s.State, s.ObservedState = v1alpha1.SessionConnected, v1alpha1.SessionConnected }),
		session("c", 1, "bob"), session("d", 2, "carol"), session("e", 3, "dan"),
	}
	res := Decide(p, nil, ss, at(time.Second))
	want := Usage{SessionLimit: lim(3), SessionsActive: 3, SessionsIdle: 3, Waiting: 1, WaitingLicences: 1}
	if diff := cmp.Diff(want, res.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestGrantTimes(t *testing.T) {
	p := sessionsPool(2, withLedger("a"))
	ss := []Session{session("a", 0, "alice", active(3*time.Second)), session("b", 1, "bob")}
	res := Decide(p, nil, ss, at(10*time.Second))
	if !res.Sessions[0].GrantedAt.Equal(at(3 * time.Second)) {
		t.Errorf("a holder keeps grantedAt, got %v", res.Sessions[0].GrantedAt)
	}
	if !res.Sessions[1].GrantedAt.Equal(at(10*time.Second)) || !res.Sessions[1].StateChangedAt.Equal(at(10*time.Second)) {
		t.Errorf("a new grant is granted and observed now, got %v %v", res.Sessions[1].GrantedAt, res.Sessions[1].StateChangedAt)
	}
	if res.Sessions[1].ObservedState != v1alpha1.SessionIdle {
		t.Errorf("observed state = %q", res.Sessions[1].ObservedState)
	}
}
