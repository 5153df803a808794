package allocator

import (
	"testing"
	"time"

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
