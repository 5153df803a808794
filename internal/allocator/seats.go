package allocator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// decideSeats grants named seats. Holders keep their seats; free seats go to waiting
// assignments oldest first (then by name); when the limit drops below the holders, the most
// recently bound go back to Pending (CapacityReduced). The steps: the seats that may hold one
// at all, one per assignee, holders kept or revoked, free seats filled, and the results.
func (d *decision) decideSeats(seats []Seat) {
	d.res.Seats = make([]SeatResult, len(seats))
	d.res.Usage.SeatLimit = d.pool.SeatLimit
	defer d.countSeats()
	switch {
	case !d.pool.Found:
		d.seatsOfMissingPool(seats)
		return
	case d.external():
		d.seatsDecidedElsewhere(seats)
		return
	}
	candidates := d.onePerAssignee(seats, d.eligibleSeats(seats))
	bound, revoked, capped := d.keepOrRevokeSeats(seats, candidates)
	d.fillSeats(seats, candidates, bound, revoked, capped)
	d.seatResults(seats, candidates, bound, revoked, capped)
}

// capSeats takes back, most recently bound first, the seats of a group that holds more than its
// maxSeats (the cap was lowered), before the pool's limit is applied to the rest. It returns
// the holders left, and those its cap holds back.
func (d *decision) capSeats(seats []Seat, holders []int) (kept []int, capped map[int]bool) {
	capped = map[int]bool{}
	byGroup := make([][]int, len(d.rules.groups))
	for _, i := range holders {
		if g := d.rules.groupOf(seats[i].Assignee); g >= 0 {
			byGroup[g] = append(byGroup[g], i)
		}
	}
	for g, members := range byGroup {
		if lim := d.rules.groups[g].MaxSeats; lim != nil && len(members) > int(*lim) {
			slices.SortFunc(members, func(a, b int) int { return newestBound(seats[a], seats[b]) })
			for _, i := range members[:len(members)-int(*lim)] {
				capped[i] = true
			}
		}
	}
	for _, i := range holders {
		if !capped[i] {
			kept = append(kept, i)
		}
	}
	return kept, capped
}

// seatsOfMissingPool: every enabled seat waits for the pool to be created.
func (d *decision) seatsOfMissingPool(seats []Seat) {
	for i, s := range seats {
		d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonPoolNotFound,
			fmt.Sprintf("pool %s does not exist in this namespace; the seat binds by itself once it is created", d.pool.Name))
		if !s.Enabled {
			d.res.Seats[i] = disabledSeat(d.pool.Name)
		}
	}
}

// seatsDecidedElsewhere keeps what another controller wrote, and explains seats it has not
// looked at yet.
func (d *decision) seatsDecidedElsewhere(seats []Seat) {
	for i, s := range seats {
		d.res.Seats[i] = SeatResult{Phase: s.Phase, Reason: s.Reason, Message: s.Message, BoundAt: s.BoundAt}
		if s.Phase == "" {
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonManagedExternally,
				fmt.Sprintf("pool %s is managed by %s: seatkeeper does not grant its seats", d.pool.Name, d.pool.ManagedBy))
		}
	}
	d.res.SeatLedger = d.pool.SeatLedger
}

// eligibleSeats settles switched-off seats, and all seats of an expired pool, and returns the
// others oldest first.
func (d *decision) eligibleSeats(seats []Seat) []int {
	order := make([]int, 0, len(seats))
	for i, s := range seats {
		switch {
		case !s.Enabled:
			d.res.Seats[i] = disabledSeat(d.pool.Name)
		case d.res.Expired:
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonPoolExpired,
				fmt.Sprintf("pool %s expired at %s; extend its spec.expiresAt or add an order to bind seats again",
					d.pool.Name, d.pool.ExpiresAt.UTC().Format(time.RFC3339)))
		default:
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return byAge(seats[a].Created, seats[b].Created, seats[a].Name, seats[b].Name)
	})
	return order
}

// onePerAssignee keeps the oldest eligible seat of each assignee; later ones are duplicates,
// even if they held the seat while the older one was switched off.
func (d *decision) onePerAssignee(seats []Seat, order []int) []int {
	owner := map[string]int{}
	for _, i := range order {
		key := identity(seats[i].Kind, seats[i].Assignee)
		if _, ok := owner[key]; !ok {
			owner[key] = i
		}
	}
	candidates := order[:0:0]
	for _, i := range order {
		s := seats[i]
		if j := owner[identity(s.Kind, s.Assignee)]; j != i {
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonDuplicateAssignee,
				fmt.Sprintf("%s %s already has seat %s in pool %s; delete or switch off one of the two", kindWord(s.Kind), s.Assignee, seats[j].Name, d.pool.Name))
			continue
		}
		candidates = append(candidates, i)
	}
	return candidates
}

// keepOrRevokeSeats keeps the candidates that hold a seat (by the ledger when it is kept),
// except the most recently bound when there are more holders than seats: those are revoked.
func (d *decision) keepOrRevokeSeats(seats []Seat, candidates []int) (bound, revoked, capped map[int]bool) {
	ledger := inLedger(d.pool.SeatLedger)
	var holders []int
	for _, i := range candidates {
		if (ledger == nil && seats[i].Phase == v1alpha1.SeatBound) || ledger[seats[i].Name] {
			holders = append(holders, i)
		}
	}
	bound, revoked = map[int]bool{}, map[int]bool{}
	holders, capped = d.capSeats(seats, holders)
	if lim := d.pool.SeatLimit; lim != nil && len(holders) > int(*lim) {
		slices.SortFunc(holders, func(a, b int) int { return newestBound(seats[a], seats[b]) })
		excess := len(holders) - int(*lim)
		for _, i := range holders[:excess] {
			revoked[i] = true
		}
		holders = holders[excess:]
	}
	inGroup := make([]int, len(d.rules.groups))
	for _, i := range holders {
		bound[i] = true
		if g := d.rules.groupOf(seats[i].Assignee); g >= 0 {
			inGroup[g]++
		}
	}
	for i := range capped {
		// Its group is under its cap once the limit took seats back too: the limit took it.
		if g := d.rules.groupOf(seats[i].Assignee); inGroup[g] < int(*d.rules.groups[g].MaxSeats) {
			delete(capped, i)
			revoked[i] = true
		}
	}
	return bound, revoked, capped
}

// newestBound orders holders most recently bound first; a holder with no boundAt yet counts
// as the newest.
func newestBound(a, b Seat) int {
	ta, tb := a.BoundAt, b.BoundAt
	switch {
	case ta == nil && tb != nil:
		return -1
	case ta != nil && tb == nil:
		return 1
	case ta != nil && !ta.Equal(*tb):
		return tb.Compare(*ta)
	}
	return -byAge(a.Created, b.Created, a.Name, b.Name)
}

// fillSeats binds waiting candidates, oldest first, while seats are free. A revoked holder
// does not bind again in the pass that revoked it; one whose group holds its maxSeats waits
// (capped), without holding up the others. It counts each group's seats.
func (d *decision) fillSeats(seats []Seat, candidates []int, bound, revoked, capped map[int]bool) {
	d.seatsInGroup = make([]int, len(d.rules.groups))
	for i := range bound {
		if g := d.rules.groupOf(seats[i].Assignee); g >= 0 {
			d.seatsInGroup[g]++
		}
	}
	for _, i := range candidates {
		if bound[i] || capped[i] {
			continue
		}
		g := d.rules.groupOf(seats[i].Assignee)
		if g >= 0 && d.rules.groups[g].MaxSeats != nil && d.seatsInGroup[g] >= int(*d.rules.groups[g].MaxSeats) {
			capped[i] = true // said first: its group's cap holds it back even once a seat frees
			continue
		}
		if revoked[i] {
			continue
		}
		if d.pool.SeatLimit != nil && len(bound) >= int(*d.pool.SeatLimit) {
			continue
		}
		bound[i] = true
		if g >= 0 {
			d.seatsInGroup[g]++
		}
	}
}

// seatResults writes each candidate's result and the seat ledger.
func (d *decision) seatResults(seats []Seat, candidates []int, bound, revoked, capped map[int]bool) {
	p := d.pool
	boundCount := int32(len(bound))
	var names []string
	for _, i := range candidates {
		s := seats[i]
		switch {
		case bound[i]:
			at := s.BoundAt
			if s.Phase != v1alpha1.SeatBound || at == nil {
				at = timePtr(d.now)
			}
			d.res.Seats[i] = SeatResult{Phase: v1alpha1.SeatBound, Reason: v1alpha1.SeatReasonGranted, BoundAt: at,
				Message: fmt.Sprintf("%s %s holds a seat of pool %s", kindWord(s.Kind), s.Assignee, p.Name)}
			names = append(names, s.Name)
		case capped[i]:
			g := d.rules.groupOf(s.Assignee)
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonGroupLimitReached,
				fmt.Sprintf("group %s may hold at most %s of pool %s (maxSeats) and holds %d; it binds when one of theirs frees",
					d.rules.groupName(g), seatsWord(int(*d.rules.groups[g].MaxSeats)), p.Name, d.seatsInGroup[g]))
		case revoked[i] || (s.Phase == v1alpha1.SeatPending && s.Reason == v1alpha1.SeatReasonCapacityReduced):
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonCapacityReduced,
				fmt.Sprintf("seat taken back: pool %s now has %s seats (%s bound); it binds again when one frees",
					p.Name, limitString(p.SeatLimit), Summary(boundCount, p.SeatLimit)))
		default:
			d.res.Seats[i] = pendingSeat(v1alpha1.SeatReasonLicensesNotAvailable,
				fmt.Sprintf("no seat free in pool %s (%s bound); it binds when one frees", p.Name, Summary(boundCount, p.SeatLimit)))
		}
	}
	if p.SeatLimit != nil {
		d.res.SeatLedger = sortedNames(names)
	}
}

// pendingSeat is the result of a seat that waits, and why.
func pendingSeat(reason v1alpha1.SeatReason, msg string) SeatResult {
	return SeatResult{Phase: v1alpha1.SeatPending, Reason: reason, Message: msg}
}

func disabledSeat(pool string) SeatResult {
	return SeatResult{Phase: v1alpha1.SeatDisabled, Reason: v1alpha1.SeatReasonDisabled,
		Message: fmt.Sprintf("seat switched off (spec.enabled: false); it holds no seat of pool %s", pool)}
}

func (d *decision) countSeats() {
	for _, r := range d.res.Seats {
		switch r.Phase {
		case v1alpha1.SeatBound:
			d.res.Usage.SeatsBound++
		case v1alpha1.SeatPending:
			d.res.Usage.SeatsPending++
			if r.Reason == v1alpha1.SeatReasonLicensesNotAvailable || r.Reason == v1alpha1.SeatReasonCapacityReduced {
				d.res.Usage.SeatsWaiting++
			}
		}
	}
}

// identity is who an assignee is, for the one-seat-per-assignee rule and for requireSeat: its
// kind and name, where a user's name that looks like an e-mail address (it has an @) compares
// without regard to case, as mail systems treat addresses (Alice@Acme.example is
// alice@acme.example). Other names (user names, device ids) compare exactly.
func identity(kind v1alpha1.AssigneeKind, name string) string {
	if kind != v1alpha1.AssigneeDevice && strings.Contains(name, "@") {
		name = strings.ToLower(name)
	}
	return string(kind) + "/" + name
}

// seatsWord is "1 seat" or "n seats".
func seatsWord(n int) string {
	if n == 1 {
		return "1 seat"
	}
	return fmt.Sprintf("%d seats", n)
}

func kindWord(k v1alpha1.AssigneeKind) string {
	if k == v1alpha1.AssigneeDevice {
		return "device"
	}
	return "user"
}
