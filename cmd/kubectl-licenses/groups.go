package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// groupRow is one group of holders of a pool in `groups`, from the pool's status.groups. JSON
// keys and CSV header come from the json tags.
type groupRow struct {
	Namespace string `json:"namespace"`
	Pool      string `json:"pool"`
	Group     string `json:"group"`
	// SeatsLimit is the group's maxSeats and SessionsLimit its maxSessions, null (CSV: empty)
	// without a cap.
	SeatsBound       int32  `json:"seatsBound"`
	SeatsLimit       *int32 `json:"seatsLimit"`
	SessionsActive   int32  `json:"sessionsActive"`
	SessionsLimit    *int32 `json:"sessionsLimit"`
	SessionsReserved int32  `json:"sessionsReserved"`
	Waiting          int32  `json:"waiting"`

	// For the table (-o wide): the group's members as the pool's spec lists them.
	members []string
}

var groupColumns = []column[groupRow]{
	{header: "NAMESPACE", cell: func(r groupRow) string { return r.Namespace }, allNamespacesOnly: true},
	{header: "POOL", cell: func(r groupRow) string { return r.Pool }},
	{header: "GROUP", cell: func(r groupRow) string { return r.Group }},
	{header: "SEATS", cell: func(r groupRow) string { return summary(r.SeatsBound, r.SeatsLimit) }},
	{header: "SESSIONS", cell: func(r groupRow) string { return summary(r.SessionsActive, r.SessionsLimit) }},
	{header: "RESERVED", cell: func(r groupRow) string { return strconv.Itoa(int(r.SessionsReserved)) }},
	{header: "WAITING", cell: func(r groupRow) string { return strconv.Itoa(int(r.Waiting)) }},
	{header: "MEMBERS", cell: func(r groupRow) string { return strings.Join(r.members, ",") }, wide: true},
}

// groupRowsOf are the pool's groups, in the order of its spec.
func groupRowsOf(p *v1alpha1.LicensePool) []groupRow {
	members := make(map[string][]string, len(p.Spec.Groups))
	for _, g := range p.Spec.Groups {
		members[g.Name] = g.Members
	}
	rows := make([]groupRow, 0, len(p.Status.Groups))
	for _, g := range p.Status.Groups {
		rows = append(rows, groupRow{
			Namespace:        p.Namespace,
			Pool:             p.Name,
			Group:            g.Name,
			SeatsBound:       g.SeatsBound,
			SeatsLimit:       g.MaxSeats,
			SessionsActive:   g.SessionsActive,
			SessionsLimit:    g.MaxSessions,
			SessionsReserved: g.ReservedSessions,
			Waiting:          g.SessionsWaiting,
			members:          members[g.Name],
		})
	}
	return rows
}

const groupsLong = `List the groups of holders of licence pools (a pool's spec.groups), one row per group, as
the operator last counted them (status.groups): the named seats its members hold/the group's
maxSeats, the shared licences they use/its maxSessions (∞ without a cap), the licences reserved
for it and how many of its sessions wait. -o wide adds the members, as the pool lists them; a
holder belongs to the first group with a member that matches it.

CSV and JSON give the numbers in separate fields: seatsBound, seatsLimit, sessionsActive,
sessionsLimit (empty or null without a cap), sessionsReserved and waiting.`

const groupsExample = `  kubectl licenses groups -n acme
  kubectl licenses groups -n acme --pool solver -o wide
  kubectl licenses groups -A -o csv > groups.csv`

func (a *app) groupsCommand() *cobra.Command {
	var lf listFlags
	var pool string
	cmd := &cobra.Command{
		Use:     "groups [--pool POOL]",
		Short:   "List the groups of holders of licence pools",
		Long:    groupsLong,
		Example: groupsExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			pools, sc, err := a.sortedPools(cmd, lf)
			if err != nil {
				return err
			}
			var rows []groupRow
			for i := range pools {
				if pool == "" || pools[i].Name == pool {
					rows = append(rows, groupRowsOf(&pools[i])...)
				}
			}
			return render(a.stdout, a.stderr, lf.output, rows, groupColumns, sc, "groups")
		},
	}
	lf.bind(cmd)
	cmd.Flags().StringVar(&pool, "pool", "", "Only the groups of this pool")
	_ = cmd.RegisterFlagCompletionFunc("pool", a.completePools)
	return cmd
}
