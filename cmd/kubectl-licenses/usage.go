package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// poolRow is one pool in `usage`. JSON keys and CSV header come from the json tags.
type poolRow struct {
	Namespace   string `json:"namespace"`
	Pool        string `json:"pool"`
	Product     string `json:"product"`
	DisplayName string `json:"displayName"`
	// SeatsLimit and SessionsLimit are null (CSV: empty) when unlimited.
	SeatsBound     int32      `json:"seatsBound"`
	SeatsPending   int32      `json:"seatsPending"`
	SeatsLimit     *int32     `json:"seatsLimit"`
	SessionsActive int32      `json:"sessionsActive"`
	SessionsLimit  *int32     `json:"sessionsLimit"`
	Idle           int32      `json:"idle"`
	Waiting        int32      `json:"waiting"`
	Expires        *time.Time `json:"expires"`
	// Ready is the status of the Ready condition (True, False, Unknown), empty before the
	// operator has seen the pool.
	Ready   string `json:"ready"`
	Message string `json:"message"`
	// The licence policies, appended after the first columns so that scripts reading the CSV by
	// position still find those: the licences in use beyond the limit
	// (status.sessions.overdraft), the most the pool may grant beyond it
	// (spec.overdraftSessions, 0 when it may not), and the licences its groups reserve
	// (status.sessions.reserved).
	SessionsOverdraft      int32 `json:"sessionsOverdraft"`
	SessionsOverdraftLimit int32 `json:"sessionsOverdraftLimit"`
	SessionsReserved       int32 `json:"sessionsReserved"`

	// For the table: bound/limit and active/limit, and whether the operator has counted yet.
	seats, sessions string
	observed        bool
	// groups is status.groups, which -o wide shows as lines under the pool; group is set on
	// those lines, which are not pools and never reach CSV or JSON.
	groups []v1alpha1.GroupUsage
	group  bool
}

var poolColumns = []column[poolRow]{
	{header: "NAMESPACE", cell: func(r poolRow) string { return r.Namespace }, allNamespacesOnly: true},
	{header: "POOL", cell: func(r poolRow) string { return r.Pool }},
	{header: "PRODUCT", cell: func(r poolRow) string { return r.Product }},
	{header: "SEATS", cell: func(r poolRow) string { return r.seats }},
	{header: "SESSIONS", cell: func(r poolRow) string { return r.sessions }},
	{header: "IDLE", cell: func(r poolRow) string { return count(r.Idle, r.observed && !r.group) }},
	{header: "WAITING", cell: func(r poolRow) string { return count(r.Waiting, r.observed) }},
	{header: "EXPIRES", cell: func(r poolRow) string {
		switch {
		case r.group:
			return ""
		case r.Expires == nil:
			return "never"
		}
		return formatTime(*r.Expires)
	}},
	{header: "READY", cell: func(r poolRow) string { return r.Ready }},
	{header: "RESERVED", cell: func(r poolRow) string { return count(r.SessionsReserved, r.observed) }, wide: true},
	{header: "OVERDRAFT", cell: func(r poolRow) string {
		// in use/allowed, for a pool that may overdraw or still does (its allowance lowered).
		if r.group || !r.observed || r.SessionsOverdraftLimit == 0 && r.SessionsOverdraft == 0 {
			return ""
		}
		return fmt.Sprintf("%d/%d", r.SessionsOverdraft, r.SessionsOverdraftLimit)
	}, wide: true},
}

func poolRowOf(p *v1alpha1.LicensePool) poolRow {
	st := p.Status
	r := poolRow{
		Namespace:              p.Namespace,
		Pool:                   p.Name,
		Product:                p.Spec.Product,
		DisplayName:            p.Spec.DisplayName,
		SeatsBound:             st.Seats.Bound,
		SeatsPending:           st.Seats.Pending,
		SeatsLimit:             st.Seats.Limit,
		SessionsActive:         st.Sessions.Active,
		SessionsLimit:          st.Sessions.Limit,
		Idle:                   st.Sessions.Idle,
		Waiting:                st.Sessions.Waiting,
		Expires:                timeOf(p.Spec.ExpiresAt),
		SessionsOverdraft:      st.Sessions.Overdraft,
		SessionsOverdraftLimit: ptr.Deref(p.Spec.OverdraftSessions, 0),
		SessionsReserved:       st.Sessions.Reserved,
		seats:                  st.Seats.Summary,
		sessions:               st.Sessions.Summary,
		groups:                 st.Groups,
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		r.Ready, r.Message = string(c.Status), c.Message
	}
	// The operator writes the summaries; an older operator may not, and a pool it has not seen
	// yet has no counts at all (an absent limit then does not mean unlimited).
	if r.observed = st.ObservedGeneration > 0; r.observed {
		if r.seats == "" {
			r.seats = summary(st.Seats.Bound, st.Seats.Limit)
		}
		if r.sessions == "" {
			r.sessions = summary(st.Sessions.Active, st.Sessions.Limit)
		}
	}
	return r
}

// withGroups adds under each pool a line per group of its status, for -o wide: the group's
// licences in use/cap (maxSessions, ∞ without), waiting sessions, reservation and named seats
// bound/cap (maxSeats).
func withGroups(pools []poolRow) []poolRow {
	var lines []poolRow
	for _, p := range pools {
		lines = append(lines, p)
		for i, g := range p.groups {
			branch := "├─ "
			if i == len(p.groups)-1 {
				branch = "└─ "
			}
			lines = append(lines, poolRow{
				Pool:             branch + g.Name,
				Waiting:          g.SessionsWaiting,
				SessionsReserved: g.ReservedSessions,
				seats:            summary(g.SeatsBound, g.MaxSeats),
				sessions:         summary(g.SessionsActive, g.MaxSessions),
				observed:         true,
				group:            true,
			})
		}
	}
	return lines
}

// count is n for the table, or nothing before the operator has counted.
func count(n int32, observed bool) string {
	if !observed {
		return ""
	}
	return strconv.Itoa(int(n))
}

// summary renders used/limit, with ∞ for no limit, as the operator does.
func summary(used int32, limit *int32) string {
	if limit == nil {
		return fmt.Sprintf("%d/∞", used)
	}
	return fmt.Sprintf("%d/%d", used, *limit)
}

func timeOf(t *metav1.Time) *time.Time { return report.TimeOf(t) }

const usageLong = `Show the usage of licence pools, one row per pool: named seats bound/limit and shared
licences in use/limit (∞ when unlimited), how many of the licences in use are held by Idle
sessions, how many sessions wait in the queue, the expiry date and whether the pool is Ready.
Shared licences are counted as licences, not sessions: a session with spec.count 4 uses 4
(with countBy Holder, a holder uses the largest count among its Active sessions).

CSV and JSON give the numbers in separate fields: seatsBound, seatsPending, seatsLimit,
sessionsActive, sessionsLimit (empty or null when unlimited), idle, waiting, expires (empty or
null when the pool never expires), ready and the Ready condition's message; then, for the
licence policies, sessionsOverdraft (licences in use beyond the limit), sessionsOverdraftLimit
(spec.overdraftSessions: how many the pool may grant beyond it, 0 for none) and
sessionsReserved (the licences its groups reserve).

-o wide adds two columns, RESERVED and OVERDRAFT (in use/allowed beyond the limit, for a pool
that may overdraw), and under each pool a line per group of holders (spec.groups): the named
seats its members hold/its maxSeats, the shared licences they use/its maxSessions (∞ without a
cap), its sessions waiting and its reservation. kubectl licenses groups lists the groups alone,
also as CSV or JSON.`

const usageExample = `  kubectl licenses usage -n acme
  kubectl licenses usage -n acme -o wide     # with reservations, overdraft and the groups
  kubectl licenses usage -A -o csv > usage.csv`

func (a *app) usageCommand() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "usage",
		Short:   "Show the usage of licence pools",
		Long:    usageLong,
		Example: usageExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			pools, sc, err := a.sortedPools(cmd, lf)
			if err != nil {
				return err
			}
			rows := make([]poolRow, 0, len(pools))
			for i := range pools {
				rows = append(rows, poolRowOf(&pools[i]))
			}
			if lf.output == "wide" {
				rows = withGroups(rows)
			}
			return render(a.stdout, a.stderr, lf.output, rows, poolColumns, sc, "licence pools")
		},
	}
	lf.bind(cmd)
	return cmd
}
