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
// recently bound go back to Pending (CapacityReduced).
func (d *decision) decideSeats(seats []Seat) {
	p := d.pool
	out := make([]SeatResult, len(seats))
	d.res.Seats = out
	d.res.Usage.SeatLimit = p.SeatLimit

	switch {
	case !p.Found:
		for i, s := range seats {
			out[i] = pendingSeat(v1alpha1.SeatReasonPoolNotFound,
				fmt.Sprintf("pool %s does not exist in this namespace; the seat binds by itself once it is created", p.Name))
			if !s.Enabled {
				out[i] = disabledSeat(p.Name)
			}
		}
		d.countSeats()
		return
	case d.external():
		for i, s := range seats {
			out[i] = SeatResult{Phase: s.Phase, Reason: s.Reason, Message: s.Message, BoundAt: s.BoundAt}
			if s.Phase == "" {
				out[i] = pendingSeat(v1alpha1.SeatReasonManagedExternally,
					fmt.Sprintf("pool %s is managed by %s: seatkeeper does not grant its seats", p.Name, p.ManagedBy))
			}
		}
		d.res.SeatLedger = p.SeatLedger
		d.countSeats()
		return
	}

	order := make([]int, 0, len(seats))
	for i, s := range seats {
		switch {
		case !s.Enabled:
			out[i] = disabledSeat(p.Name)
		case d.res.Expired:
			out[i] = pendingSeat(v1alpha1.SeatReasonPoolExpired,
				fmt.Sprintf("pool %s expired at %s; extend its spec.expiresAt or add an order to bind seats again",
					p.Name, p.ExpiresAt.UTC().Format(time.RFC3339)))
		default:
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return byAge(seats[a].Created, seats[b].Created, seats[a].Name, seats[b].Name)
	})

	ledger := inLedger(p.SeatLedger)
	holds := func(s Seat) bool {
		if ledger != nil {
			return ledger[s.Name]
		}
		return s.Phase == v1alpha1.SeatBound
	}

	// One seat per assignee: the oldest enabled assignment; later ones are duplicates, even
	// if they held the seat while the older one was switched off.
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
		j := owner[identity(s.Kind, s.Assignee)]
		if j != i {
			out[i] = pendingSeat(v1alpha1.SeatReasonDuplicateAssignee,
				fmt.Sprintf("%s %s already has seat %s in pool %s; delete or switch off one of the two", kindWord(s.Kind), s.Assignee, seats[j].Name, p.Name))
			continue
		}
		candidates = append(candidates, i)
	}

	bound := map[int]bool{}
	var holders []int
	for _, i := range candidates {
		if holds(seats[i]) {
			holders = append(holders, i)
		}
	}
	revoked := map[int]bool{}
	if lim := p.SeatLimit; lim != nil && len(holders) > int(*lim) {
		// Most recently bound first; a holder with no boundAt yet counts as the newest.
		slices.SortFunc(holders, func(a, b int) int {
			ta, tb := seats[a].BoundAt, seats[b].BoundAt
			switch {
			case ta == nil && tb != nil:
				return -1
			case ta != nil && tb == nil:
				return 1
			case ta != nil && !ta.Equal(*tb):
				return tb.Compare(*ta)
			}
			return -byAge(seats[a].Created, seats[b].Created, seats[a].Name, seats[b].Name)
		})
		excess := len(holders) - int(*lim)
		for _, i := range holders[:excess] {
			revoked[i] = true
		}
		holders = holders[excess:]
	}
	for _, i := range holders {
		bound[i] = true
	}
	for _, i := range candidates {
		if bound[i] || revoked[i] {
			continue
		}
		if p.SeatLimit == nil || len(bound) < int(*p.SeatLimit) {
			bound[i] = true
		}
	}

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
			out[i] = SeatResult{Phase: v1alpha1.SeatBound, Reason: v1alpha1.SeatReasonGranted, BoundAt: at,
				Message: fmt.Sprintf("%s %s holds a seat of pool %s", kindWord(s.Kind), s.Assignee, p.Name)}
			names = append(names, s.Name)
		case revoked[i] || (s.Phase == v1alpha1.SeatPending && s.Reason == v1alpha1.SeatReasonCapacityReduced):
			out[i] = pendingSeat(v1alpha1.SeatReasonCapacityReduced,
				fmt.Sprintf("seat taken back: pool %s now has %s seats (%s bound); it binds again when one frees",
					p.Name, limitString(p.SeatLimit), Summary(boundCount, p.SeatLimit)))
		default:
			out[i] = pendingSeat(v1alpha1.SeatReasonLicensesNotAvailable,
				fmt.Sprintf("no seat free in pool %s (%s bound); it binds when one frees", p.Name, Summary(boundCount, p.SeatLimit)))
		}
	}
	if p.SeatLimit != nil {
		d.res.SeatLedger = sortedNames(names)
	}
	d.countSeats()
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

func kindWord(k v1alpha1.AssigneeKind) string {
	if k == v1alpha1.AssigneeDevice {
		return "device"
	}
	return "user"
}
