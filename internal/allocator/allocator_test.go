package allocator

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time   { return t0.Add(d) }
func atp(d time.Duration) *time.Time { t := t0.Add(d); return &t }
func lim(n int32) *int32             { return &n }

func pool(mut ...func(*Pool)) Pool {
	p := Pool{Name: "remote-support", Found: true, Policy: DefaultPolicy}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func seat(name string, created time.Duration, assignee string, mut ...func(*Seat)) Seat {
	s := Seat{Name: name, Created: at(created), Kind: v1alpha1.AssigneeUser, Assignee: assignee, Enabled: true}
	for _, m := range mut {
		m(&s)
	}
	return s
}

func bound(since time.Duration) func(*Seat) {
	return func(s *Seat) {
		s.Phase, s.Reason, s.BoundAt = v1alpha1.SeatBound, v1alpha1.SeatReasonGranted, atp(since)
	}
}

func session(name string, created time.Duration, holder string, mut ...func(*Session)) Session {
	s := Session{Name: name, Created: at(created), Holder: holder, State: v1alpha1.SessionIdle}
	for _, m := range mut {
		m(&s)
	}
	return s
}

func active(granted time.Duration) func(*Session) {
	return func(s *Session) {
		s.Phase, s.GrantedAt = v1alpha1.SessionActive, atp(granted)
		s.StateChangedAt, s.ObservedState = atp(granted), s.State
	}
}

func renewed(d time.Duration) func(*Session) { return func(s *Session) { s.RenewTime = atp(d) } }

// phases summarises seat results as name → "Phase/Reason".
func seatPhases(seats []Seat, res Result) map[string]string {
	out := map[string]string{}
	for i, s := range seats {
		out[s.Name] = string(res.Seats[i].Phase) + "/" + string(res.Seats[i].Reason)
	}
	return out
}

// sessionPhases summarises session results as name → "Phase[/position|/reason]".
func sessionPhases(sessions []Session, res Result) map[string]string {
	out := map[string]string{}
	for i, s := range sessions {
		r := res.Sessions[i]
		switch {
		case r.Delete:
			out[s.Name] = "Deleted"
		case r.Phase == v1alpha1.SessionWaiting:
			out[s.Name] = fmt.Sprintf("Waiting/%d", r.QueuePosition)
		case r.Phase == v1alpha1.SessionEnded:
			out[s.Name] = "Ended/" + string(r.EndReason)
		default:
			out[s.Name] = string(r.Phase)
		}
	}
	return out
}

func TestSeats(t *testing.T) {
	tests := []struct {
		name       string
		pool       Pool
		seats      []Seat
		now        time.Duration
		want       map[string]string
		wantLedger []string
		wantMsg    map[string]string
	}{
		{
			name:  "unlimited pool binds everyone and keeps no ledger",
			pool:  pool(),
			seats: []Seat{seat("a", 0, "alice"), seat("b", 1, "bob"), seat("d", 2, "kiosk-1", func(s *Seat) { s.Kind = v1alpha1.AssigneeDevice })},
			want:  map[string]string{"a": "Bound/SeatGranted", "b": "Bound/SeatGranted", "d": "Bound/SeatGranted"},
		},
		{
			name:       "seats go in creation order",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(2) }),
			seats:      []Seat{seat("c", 3, "carol"), seat("a", 1, "alice"), seat("b", 2, "bob")},
			want:       map[string]string{"a": "Bound/SeatGranted", "b": "Bound/SeatGranted", "c": "Pending/LicensesNotAvailable"},
			wantLedger: []string{"a", "b"},
			wantMsg:    map[string]string{"c": "no seat free in pool remote-support (2/2 bound); it binds when one frees"},
		},
		{
			name:       "then by name within the same second",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1) }),
			seats:      []Seat{seat("zed", 0, "z"), seat("amy", 0, "a")},
			want:       map[string]string{"amy": "Bound/SeatGranted", "zed": "Pending/LicensesNotAvailable"},
			wantLedger: []string{"amy"},
		},
		{
			name:       "devices and users count against one limit",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(2) }),
			seats:      []Seat{seat("d", 0, "kiosk", func(s *Seat) { s.Kind = v1alpha1.AssigneeDevice }), seat("u", 1, "alice"), seat("u2", 2, "bob")},
			want:       map[string]string{"d": "Bound/SeatGranted", "u": "Bound/SeatGranted", "u2": "Pending/LicensesNotAvailable"},
			wantLedger: []string{"d", "u"},
		},
		{
			name:       "a disabled seat holds nothing and frees its seat",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"a"} }),
			seats:      []Seat{seat("a", 0, "alice", bound(0), func(s *Seat) { s.Enabled = false }), seat("b", 1, "bob")},
			want:       map[string]string{"a": "Disabled/Disabled", "b": "Bound/SeatGranted"},
			wantLedger: []string{"b"},
		},
		{
			name:       "the same assignee twice: the later one is a duplicate",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(5) }),
			seats:      []Seat{seat("a", 0, "alice"), seat("a2", 1, "alice")},
			want:       map[string]string{"a": "Bound/SeatGranted", "a2": "Pending/DuplicateAssignee"},
			wantLedger: []string{"a"},
			wantMsg:    map[string]string{"a2": "user alice already has seat a in pool remote-support; delete or switch off one of the two"},
		},
		{
			name:       "an older assignment switched back on takes over from its duplicate",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"a2"} }),
			seats:      []Seat{seat("a", 0, "alice"), seat("a2", 1, "alice", bound(1))},
			want:       map[string]string{"a": "Bound/SeatGranted", "a2": "Pending/DuplicateAssignee"},
			wantLedger: []string{"a"},
		},
		{
			name:  "e-mail-like user names compare without regard to case: one person, one seat",
			pool:  pool(func(p *Pool) { p.SeatLimit = lim(5) }),
			seats: []Seat{seat("a", 0, "alice@acme.example"), seat("a2", 1, "Alice@ACME.example"), seat("b", 2, "Bob"), seat("b2", 3, "bob")},
			want: map[string]string{"a": "Bound/SeatGranted", "a2": "Pending/DuplicateAssignee",
				"b": "Bound/SeatGranted", "b2": "Bound/SeatGranted"},
			wantLedger: []string{"a", "b", "b2"},
			wantMsg:    map[string]string{"a2": "user Alice@ACME.example already has seat a in pool remote-support; delete or switch off one of the two"},
		},
		{
			name:  "device ids compare exactly, @ or not",
			pool:  pool(),
			seats: []Seat{seat("d", 0, "kiosk@lobby", func(s *Seat) { s.Kind = v1alpha1.AssigneeDevice }), seat("d2", 1, "KIOSK@lobby", func(s *Seat) { s.Kind = v1alpha1.AssigneeDevice })},
			want:  map[string]string{"d": "Bound/SeatGranted", "d2": "Bound/SeatGranted"},
		},
		{
			name:  "a user and a device of the same name are different assignees",
			pool:  pool(),
			seats: []Seat{seat("a", 0, "x"), seat("b", 1, "x", func(s *Seat) { s.Kind = v1alpha1.AssigneeDevice })},
			want:  map[string]string{"a": "Bound/SeatGranted", "b": "Bound/SeatGranted"},
		},
		{
			name:  "no pool: every seat waits for it",
			pool:  Pool{Name: "gone", Policy: DefaultPolicy},
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", func(s *Seat) { s.Enabled = false })},
			want:  map[string]string{"a": "Pending/PoolNotFound", "b": "Disabled/Disabled"},
			wantMsg: map[string]string{
				"a": "pool gone does not exist in this namespace; the seat binds by itself once it is created"},
		},
		{
			name:       "an expired pool binds nothing",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(5); p.ExpiresAt = atp(time.Hour); p.SeatLedger = []string{"a"} }),
			seats:      []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob")},
			now:        time.Hour,
			want:       map[string]string{"a": "Pending/PoolExpired", "b": "Pending/PoolExpired"},
			wantLedger: []string{},
		},
		{
			name: "a lower limit sends the most recently bound back",
			pool: pool(func(p *Pool) { p.SeatLimit = lim(2); p.SeatLedger = []string{"a", "b", "c", "d"} }),
			seats: []Seat{seat("a", 0, "alice", bound(10)), seat("b", 1, "bob", bound(40)),
				seat("c", 2, "carol", bound(20)), seat("d", 3, "dan", bound(30))},
			want:       map[string]string{"a": "Bound/SeatGranted", "b": "Pending/CapacityReduced", "c": "Bound/SeatGranted", "d": "Pending/CapacityReduced"},
			wantLedger: []string{"a", "c"},
			wantMsg:    map[string]string{"b": "seat taken back: pool remote-support now has 2 seats (2/2 bound); it binds again when one frees"},
		},
		{
			name: "CapacityReduced stays the reason while the seat waits",
			pool: pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"a"} }),
			seats: []Seat{seat("a", 0, "alice", bound(0)),
				seat("b", 1, "bob", func(s *Seat) { s.Phase, s.Reason = v1alpha1.SeatPending, v1alpha1.SeatReasonCapacityReduced })},
			want:       map[string]string{"a": "Bound/SeatGranted", "b": "Pending/CapacityReduced"},
			wantLedger: []string{"a"},
		},
		{
			name:       "holders keep their seats: an older newcomer waits",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"b"} }),
			seats:      []Seat{seat("a", 0, "alice"), seat("b", 1, "bob", bound(1))},
			want:       map[string]string{"a": "Pending/LicensesNotAvailable", "b": "Bound/SeatGranted"},
			wantLedger: []string{"b"},
		},
		{
			name:       "the ledger decides, not the claimant's status: a Bound seat missing from it is not a holder",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"b"} }),
			seats:      []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob")},
			want:       map[string]string{"a": "Pending/LicensesNotAvailable", "b": "Bound/SeatGranted"},
			wantLedger: []string{"b"},
		},
		{
			name:       "ledger entries of vanished seats are dropped",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(1); p.SeatLedger = []string{"gone"} }),
			seats:      []Seat{seat("a", 0, "alice")},
			want:       map[string]string{"a": "Bound/SeatGranted"},
			wantLedger: []string{"a"},
		},
		{
			name: "a pool that becomes limited starts its ledger from the bound seats",
			pool: pool(func(p *Pool) { p.SeatLimit = lim(1) }),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(5)),
				seat("c", 2, "carol")},
			want:       map[string]string{"a": "Bound/SeatGranted", "b": "Pending/CapacityReduced", "c": "Pending/LicensesNotAvailable"},
			wantLedger: []string{"a"},
		},
		{
			name:       "limit 0 binds nobody",
			pool:       pool(func(p *Pool) { p.SeatLimit = lim(0) }),
			seats:      []Seat{seat("a", 0, "alice")},
			want:       map[string]string{"a": "Pending/LicensesNotAvailable"},
			wantLedger: []string{},
			wantMsg:    map[string]string{"a": "no seat free in pool remote-support (0/0 bound); it binds when one frees"},
		},
		{
			name: "a pool managed by another system changes nothing",
			pool: pool(func(p *Pool) { p.ManagedBy = "crm.example.com"; p.SeatLimit = lim(1) }),
			seats: []Seat{seat("a", 0, "alice", bound(0)), seat("b", 1, "bob", bound(1)),
				seat("c", 2, "carol")},
			want: map[string]string{"a": "Bound/SeatGranted", "b": "Bound/SeatGranted", "c": "Pending/ManagedExternally"},
			wantMsg: map[string]string{
				"c": "pool remote-support is managed by crm.example.com: seatkeeper does not grant its seats"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Decide(tc.pool, tc.seats, nil, at(tc.now))
			if diff := cmp.Diff(tc.want, seatPhases(tc.seats, res)); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLedger, res.SeatLedger); diff != "" {
				t.Errorf("ledger (-want +got):\n%s", diff)
			}
			for i, s := range tc.seats {
				if want, ok := tc.wantMsg[s.Name]; ok && res.Seats[i].Message != want {
					t.Errorf("message of %s = %q, want %q", s.Name, res.Seats[i].Message, want)
				}
			}
		})
	}
}

func TestSeatBoundAt(t *testing.T) {
	p := pool(func(p *Pool) { p.SeatLimit = lim(2); p.SeatLedger = []string{"a"} })
	res := Decide(p, []Seat{seat("a", 0, "alice", bound(5)), seat("b", 1, "bob")}, nil, at(time.Minute))
	if got := *res.Seats[0].BoundAt; !got.Equal(at(5)) {
		t.Errorf("a holder keeps its boundAt: got %v", got)
	}
	if got := *res.Seats[1].BoundAt; !got.Equal(at(time.Minute)) {
		t.Errorf("a new grant is bound now: got %v", got)
	}
	if u := res.Usage; u.SeatsBound != 2 || u.SeatsPending != 0 || *u.SeatLimit != 2 {
		t.Errorf("usage = %+v", u)
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name                  string
		expires               *time.Time
		warning               time.Duration
		now                   time.Duration
		wantExpired, wantSoon bool
		wantNext              time.Time
	}{
		{name: "no expiry", now: 0},
		{name: "far away", expires: atp(10 * time.Hour), warning: time.Hour, wantNext: at(9 * time.Hour)},
		{name: "within the warning", expires: atp(10 * time.Hour), warning: time.Hour, now: 9 * time.Hour, wantSoon: true, wantNext: at(10 * time.Hour)},
		{name: "at the warning instant", expires: atp(10 * time.Hour), warning: time.Hour, now: 9 * time.Hour, wantSoon: true, wantNext: at(10 * time.Hour)},
		{name: "at the expiry instant", expires: atp(10 * time.Hour), warning: time.Hour, now: 10 * time.Hour, wantExpired: true},
		{name: "long after", expires: atp(10 * time.Hour), now: 100 * time.Hour, wantExpired: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pool(func(p *Pool) { p.ExpiresAt, p.ExpiryWarning = tc.expires, tc.warning })
			res := Decide(p, nil, nil, at(tc.now))
			if res.Expired != tc.wantExpired || res.ExpiringSoon != tc.wantSoon || !res.Next.Equal(tc.wantNext) {
				t.Errorf("got expired=%v soon=%v next=%v, want %v %v %v", res.Expired, res.ExpiringSoon, res.Next, tc.wantExpired, tc.wantSoon, tc.wantNext)
			}
		})
	}
}

func TestCapacityChangesWakeThePool(t *testing.T) {
	p := pool(func(p *Pool) { p.CapacityChanges = []time.Time{at(-time.Hour), at(3 * time.Hour), at(2 * time.Hour)} })
	if res := Decide(p, nil, nil, t0); !res.Next.Equal(at(2 * time.Hour)) {
		t.Errorf("next = %v, want the first future change", res.Next)
	}
}

// TestSeatUsage: Pending counts every enabled seat without one; Waiting only those that wait
// for a seat to free, which is what "N waiting" on a full pool tells an administrator.
func TestSeatUsage(t *testing.T) {
	p := pool(func(p *Pool) { p.SeatLimit, p.SeatLedger = lim(1), []string{"a"} })
	seats := []Seat{
		seat("a", 0, "alice@acme.example", bound(0)),
		seat("dup", 1, "Alice@acme.example"),
		seat("b", 2, "bob@acme.example"),
		seat("off", 3, "carol@acme.example", func(s *Seat) { s.Enabled = false }),
	}
	got := Decide(p, seats, nil, at(time.Minute)).Usage
	if got.SeatsBound != 1 || got.SeatsPending != 2 || got.SeatsWaiting != 1 {
		t.Errorf("bound %d pending %d waiting %d, want 1, 2 (the duplicate and bob) and 1 (bob)", got.SeatsBound, got.SeatsPending, got.SeatsWaiting)
	}
}
