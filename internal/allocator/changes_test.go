package allocator

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// change summarises what a result changes as "Licence/Transition".
func change(l Licence, t Transition) string {
	return [...]string{"Keeps", "Gains", "Loses"}[l] + "/" + string(t)
}

func TestSeatChanges(t *testing.T) {
	pending := func(reason v1alpha1.SeatReason) func(*Seat) {
		return func(s *Seat) { s.Phase, s.Reason = v1alpha1.SeatPending, reason }
	}
	off := func(s *Seat) { s.Enabled = false }
	tests := []struct {
		name  string
		pool  Pool
		seats []Seat
		want  map[string]string
	}{
		{
			name:  "a seat that binds gains a licence; one left waiting for the first time waits",
			pool:  pool(func(p *Pool) { p.SeatLimit, p.SeatLedger = lim(1), []string{} }),
			seats: []Seat{seat("a", 0, "alice"), seat("b", 1, "bob")},
			want:  map[string]string{"a": "Gains/SeatBound", "b": "Keeps/SeatWaits"},
		},
		{
			name:  "holders and seats waiting for the same reason change nothing",
			pool:  pool(func(p *Pool) { p.SeatLimit, p.SeatLedger = lim(1), []string{"a"} }),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", pending(v1alpha1.SeatReasonLicensesNotAvailable))},
			want:  map[string]string{"a": "Keeps/", "b": "Keeps/"},
		},
		{
			name:  "a limit cut revokes the newest holder, and switching a holder off disables it",
			pool:  pool(func(p *Pool) { p.SeatLimit, p.SeatLedger = lim(1), []string{"a", "b", "c"} }),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(1)), seat("c", 2, "carol", bound(2), off)},
			want:  map[string]string{"a": "Keeps/", "b": "Loses/SeatRevoked", "c": "Loses/SeatDisabled"},
		},
		{
			name:  "a second seat of one person waits as a duplicate",
			pool:  pool(),
			seats: []Seat{seat("a", 0, "alice@acme.example", bound(0)), seat("b", 1, "Alice@Acme.example", pending(v1alpha1.SeatReasonLicensesNotAvailable))},
			want:  map[string]string{"a": "Keeps/", "b": "Keeps/SeatWaits"},
		},
		{
			name:  "a pool managed elsewhere changes nothing seatkeeper reports",
			pool:  pool(func(p *Pool) { p.ManagedBy = "example.com/other" }),
			seats: []Seat{seat("a", 0, "alice", bound(0))},
			want:  map[string]string{"a": "Keeps/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Decide(tt.pool, tt.seats, nil, at(time.Minute))
			got := map[string]string{}
			for i, s := range tt.seats {
				got[s.Name] = change(res.Seats[i].Licence, res.Seats[i].Transition)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("seat %s: got %s, want %s", name, got[name], want)
				}
			}
		})
	}
}

func TestSessionChanges(t *testing.T) {
	waiting := func(s *Session) { s.Phase, s.QueuePosition = v1alpha1.SessionWaiting, 1 }
	ended := func(s *Session) {
		s.Phase, s.EndReason, s.EndedAt = v1alpha1.SessionEnded, v1alpha1.EndTerminated, atp(0)
	}
	terminate := func(s *Session) { s.Terminate = true }
	now := 10 * time.Second
	tests := []struct {
		name     string
		pool     Pool
		sessions []Session
		want     map[string]string
	}{
		{
			name:     "a new session granted gains; a new one queued is queued; one still waiting keeps",
			pool:     sessionsPool(1, withLedger()),
			sessions: []Session{session("a", 0, "alice"), session("b", 1, "bob"), session("c", 2, "carol", waiting)},
			want:     map[string]string{"a": "Gains/Granted", "b": "Keeps/Queued", "c": "Keeps/"},
		},
		{
			name:     "a holder that ends loses its licence, and the head of the queue gains it",
			pool:     sessionsPool(1, withLedger("a")),
			sessions: []Session{session("a", 0, "alice", active(0), terminate), session("b", 1, "bob", waiting)},
			want:     map[string]string{"a": "Loses/Ended", "b": "Gains/Granted"},
		},
		{
			name:     "a waiter that ends held nothing: it ends without losing a licence",
			pool:     sessionsPool(1, withLedger("a")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", waiting, terminate)},
			want:     map[string]string{"a": "Keeps/", "b": "Keeps/Ended"},
		},
		{
			name:     "an Active session the ledger does not list goes back to the queue, and loses",
			pool:     sessionsPool(1, withLedger("b")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1))},
			want:     map[string]string{"a": "Loses/", "b": "Keeps/"},
		},
		{
			name:     "an ended session, kept or deleted, changes nothing",
			pool:     sessionsPool(1, withLedger(), func(p *Pool) { p.Policy.RetainEnded = 5 * time.Second }),
			sessions: []Session{session("a", 0, "alice", ended)},
			want:     map[string]string{"a": "Keeps/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Decide(tt.pool, nil, tt.sessions, at(now))
			for i, s := range tt.sessions {
				if got := change(res.Sessions[i].Licence, res.Sessions[i].Transition); got != tt.want[s.Name] {
					t.Errorf("session %s: got %s, want %s", s.Name, got, tt.want[s.Name])
				}
			}
		})
	}
}

func TestNeedsFreshRead(t *testing.T) {
	seatPool := func(limit int32, ledger ...string) Pool {
		return pool(func(p *Pool) { p.SeatLimit, p.SeatLedger = lim(limit), append([]string{}, ledger...) })
	}
	now := 10 * time.Second
	tests := []struct {
		name     string
		pool     Pool
		seats    []Seat
		sessions []Session
		want     bool
	}{
		{
			name:     "an ordinary grant on a kept ledger does not",
			pool:     sessionsPool(2, withLedger()),
			sessions: []Session{session("a", 0, "alice")},
		},
		{
			name:     "starting a session ledger does",
			pool:     sessionsPool(2),
			sessions: []Session{session("a", 0, "alice")},
			want:     true,
		},
		{
			name:  "starting a seat ledger does",
			pool:  pool(func(p *Pool) { p.SeatLimit = lim(2) }),
			seats: []Seat{seat("a", 0, "alice")},
			want:  true,
		},
		{
			name:  "taking a seat back because the limit dropped does",
			pool:  seatPool(1, "a", "b"),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(1))},
			want:  true,
		},
		{
			name: "taking a seat back because its group's cap dropped does",
			pool: func() Pool {
				p := seatPool(5, "a", "b")
				p.Groups = []Group{{Name: "cfd", Members: []string{"*"}, MaxSeats: lim(1)}}
				return p
			}(),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(1))},
			want:  true,
		},
		{
			name:     "ending holders because the limit dropped does",
			pool:     sessionsPool(1, withLedger("a", "b")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1))},
			want:     true,
		},
		{
			name:     "ending sessions of a pool that seems missing does",
			pool:     Pool{Name: "gone", Policy: DefaultPolicy},
			sessions: []Session{session("a", 0, "alice")},
			want:     true,
		},
		{
			name:     "ending a session whose holder seems to have no seat does",
			pool:     sessionsPool(2, withLedger(), func(p *Pool) { p.Policy.RequireSeat = true }),
			sessions: []Session{session("a", 0, "alice")},
			want:     true,
		},
		{
			name: "taking back a session the ledger does not list does: the cache may lag the ledger",
			pool: sessionsPool(1, withLedger("b")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1)),
				session("c", 2, "carol", func(s *Session) { s.Priority = 10 })},
			want: true,
		},
		{
			name:  "taking back a seat the ledger does not list does",
			pool:  seatPool(1, "b"),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(1))},
			want:  true,
		},
		{
			name:     "ending a session on request does not: it is the holder's word",
			pool:     sessionsPool(1, withLedger("a")),
			sessions: []Session{session("a", 0, "alice", active(0), func(s *Session) { s.Terminate = true })},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.pool, tt.seats, tt.sessions, at(now)).NeedsFreshRead; got != tt.want {
				t.Errorf("NeedsFreshRead = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCapacityGrace: with a grace period, the holders a dropped limit no longer covers are told
// when they end, keep their licence until then, and block new grants; without one they end.
func TestCapacityGrace(t *testing.T) {
	grace := func(d time.Duration) func(*Pool) { return func(p *Pool) { p.Policy.CapacityGrace = d } }
	notice := func(at time.Duration) func(*Session) { return func(s *Session) { s.EndsAt = atp(at) } }
	waiting := func(s *Session) { s.Phase, s.QueuePosition = v1alpha1.SessionWaiting, 1 }
	now := 10 * time.Second
	tests := []struct {
		name     string
		pool     Pool
		sessions []Session
		want     map[string]string // phase, and the notice's end if any
		wantNext time.Duration
	}{
		{
			name:     "no grace period: the newest holder ends at once",
			pool:     sessionsPool(1, withLedger("a", "b")),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1))},
			want:     map[string]string{"a": "Active", "b": "Ended/CapacityReduced"},
		},
		{
			name:     "a grace period: the newest holder is told when it ends, and keeps its licence; the queue waits",
			pool:     sessionsPool(1, withLedger("a", "b"), grace(time.Minute), func(p *Pool) { p.Policy.HeartbeatTimeout = time.Hour }),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1)), session("c", 2, "carol", waiting)},
			want:     map[string]string{"a": "Active", "b": "Active until 1m10s", "c": "Waiting/1"},
			wantNext: 70 * time.Second,
		},
		{
			name:     "a notice given before keeps its end",
			pool:     sessionsPool(1, withLedger("a", "b"), grace(time.Minute)),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1), notice(30*time.Second))},
			want:     map[string]string{"a": "Active", "b": "Active until 30s"},
		},
		{
			name:     "when the notice runs out, the session ends",
			pool:     sessionsPool(1, withLedger("a", "b"), grace(time.Minute)),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1), notice(now))},
			want:     map[string]string{"a": "Active", "b": "Ended/CapacityReduced"},
		},
		{
			name:     "a licence freed meanwhile withdraws the notice",
			pool:     sessionsPool(1, withLedger("a", "b"), grace(time.Minute)),
			sessions: []Session{session("a", 0, "alice", active(0), func(s *Session) { s.Terminate = true }), session("b", 1, "bob", active(1), notice(30*time.Second))},
			want:     map[string]string{"a": "Ended/Terminated", "b": "Active"},
		},
		{
			name: "countBy Holder: a holder's sessions are noticed as one licence, and a new one of theirs does not share it",
			pool: sessionsPool(1, withLedger("a", "b1", "b2"), grace(time.Minute), func(p *Pool) { p.Policy.CountByHolder = true }),
			sessions: []Session{session("a", 0, "alice", active(0)), session("b1", 1, "bob", active(1)), session("b2", 2, "bob", active(2), notice(40*time.Second)),
				session("b3", 3, "bob")},
			want: map[string]string{"a": "Active", "b1": "Active until 40s", "b2": "Active until 40s", "b3": "Waiting/1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, nil, tc.sessions, at(now))
			got := sessionPhases(tc.sessions, res)
			for i, s := range tc.sessions {
				if e := res.Sessions[i].EndsAt; e != nil {
					got[s.Name] += fmt.Sprintf(" until %s", e.Sub(t0))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sessions (-want +got):\n%s", diff)
			}
			if tc.wantNext != 0 && !res.Next.Equal(at(tc.wantNext)) {
				t.Errorf("next = %v, want %v", res.Next.Sub(t0), tc.wantNext)
			}
		})
	}
	// The notice is news once: it is a transition when given, not when kept.
	res := Decide(sessionsPool(1, withLedger("a", "b"), grace(time.Minute)), nil,
		[]Session{session("a", 0, "alice", active(0)), session("b", 1, "bob", active(1))}, at(now))
	if r := res.Sessions[1]; r.Transition != SessionNoticed || r.Licence != Keeps || !res.NeedsFreshRead {
		t.Errorf("a notice given: transition %q, licence %d, fresh read %v; want EndingSoon, Keeps, true", r.Transition, r.Licence, res.NeedsFreshRead)
	}
}
