package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	// For the table: bound/limit and active/limit, and whether the operator has counted yet.
	seats, sessions string
	observed        bool
}

var poolColumns = []column[poolRow]{
	{header: "NAMESPACE", cell: func(r poolRow) string { return r.Namespace }, allNamespacesOnly: true},
	{header: "POOL", cell: func(r poolRow) string { return r.Pool }},
	{header: "PRODUCT", cell: func(r poolRow) string { return r.Product }},
	{header: "SEATS", cell: func(r poolRow) string { return r.seats }},
	{header: "SESSIONS", cell: func(r poolRow) string { return r.sessions }},
	{header: "IDLE", cell: func(r poolRow) string { return count(r.Idle, r.observed) }},
	{header: "WAITING", cell: func(r poolRow) string { return count(r.Waiting, r.observed) }},
	{header: "EXPIRES", cell: func(r poolRow) string {
		if r.Expires == nil {
			return "never"
		}
		return formatTime(*r.Expires)
	}},
	{header: "READY", cell: func(r poolRow) string { return r.Ready }},
}

func poolRowOf(p *v1alpha1.LicensePool) poolRow {
	st := p.Status
	r := poolRow{
		Namespace:      p.Namespace,
		Pool:           p.Name,
		Product:        p.Spec.Product,
		DisplayName:    p.Spec.DisplayName,
		SeatsBound:     st.Seats.Bound,
		SeatsPending:   st.Seats.Pending,
		SeatsLimit:     st.Seats.Limit,
		SessionsActive: st.Sessions.Active,
		SessionsLimit:  st.Sessions.Limit,
		Idle:           st.Sessions.Idle,
		Waiting:        st.Sessions.Waiting,
		Expires:        timeOf(p.Spec.ExpiresAt),
		seats:          st.Seats.Summary,
		sessions:       st.Sessions.Summary,
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
null when the pool never expires), ready and the Ready condition's message.`

const usageExample = `  kubectl licenses usage -n acme
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
			if err := lf.validate(); err != nil {
				return err
			}
			c, sc, err := a.connect(lf.allNamespaces)
			if err != nil {
				return err
			}
			pools, err := listPools(cmd.Context(), c, sc)
			if err != nil {
				return action{what: "read licence pools", role: roleReports, scope: sc}.explain(err)
			}
			slices.SortFunc(pools, func(x, y v1alpha1.LicensePool) int {
				return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
			})
			rows := make([]poolRow, 0, len(pools))
			for i := range pools {
				rows = append(rows, poolRowOf(&pools[i]))
			}
			return render(a.stdout, a.stderr, lf.output, rows, poolColumns, sc, "licence pools")
		},
	}
	lf.bind(cmd)
	return cmd
}
