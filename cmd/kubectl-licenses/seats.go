package main

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// seatRow is one SeatAssignment in `seats`. JSON keys and CSV header come from the json tags.
type seatRow struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Pool      string     `json:"pool"`
	Assignee  string     `json:"assignee"`
	Kind      string     `json:"kind"`
	Enabled   bool       `json:"enabled"`
	Phase     string     `json:"phase"`
	Reason    string     `json:"reason"`
	BoundAt   *time.Time `json:"boundAt"`
	Message   string     `json:"message"`
}

var seatColumns = []column[seatRow]{
	{header: "NAMESPACE", cell: func(r seatRow) string { return r.Namespace }, allNamespacesOnly: true},
	{header: "NAME", cell: func(r seatRow) string { return r.Name }},
	{header: "POOL", cell: func(r seatRow) string { return r.Pool }},
	{header: "ASSIGNEE", cell: func(r seatRow) string { return r.Assignee }},
	{header: "KIND", cell: func(r seatRow) string { return r.Kind }},
	{header: "ENABLED", cell: func(r seatRow) string { return strconv.FormatBool(r.Enabled) }},
	{header: "PHASE", cell: func(r seatRow) string { return r.Phase }},
	{header: "REASON", cell: func(r seatRow) string { return r.Reason }},
	{header: "BOUND AT", cell: func(r seatRow) string { return optionalTime(r.BoundAt) }},
	{header: "MESSAGE", cell: func(r seatRow) string { return r.Message }},
}

func seatRowOf(s *v1alpha1.SeatAssignment) seatRow {
	kind := s.Spec.Assignee.Kind
	if kind == "" {
		kind = v1alpha1.AssigneeUser // the API's default
	}
	return seatRow{
		Namespace: s.Namespace,
		Name:      s.Name,
		Pool:      s.Spec.PoolName,
		Assignee:  s.Spec.Assignee.Name,
		Kind:      string(kind),
		Enabled:   s.Spec.Enabled == nil || *s.Spec.Enabled, // the API's default is true
		Phase:     string(s.Status.Phase),
		Reason:    string(s.Status.Reason),
		BoundAt:   timeOf(s.Status.BoundAt),
		Message:   s.Status.Message,
	}
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

const seatsLong = `List named seats (SeatAssignments): who each is for, whether its toggle is on, whether it
holds a seat (phase Bound) or waits for one (Pending, with the reason), and since when it is
bound. Seats are listed by pool, in the order they are granted (oldest first).`

const seatsExample = `  kubectl licenses seats -n acme
  kubectl licenses seats -n acme --pool remote-support -o csv > seats.csv
  kubectl licenses seats -A --assignee alice@acme.example`

func (a *app) seatsCommand() *cobra.Command {
	var lf listFlags
	var pool, assignee string
	cmd := &cobra.Command{
		Use:     "seats [--pool POOL] [--assignee NAME]",
		Short:   "List named seats",
		Long:    seatsLong,
		Example: seatsExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.validate(); err != nil {
				return err
			}
			c, sc, err := a.connect(lf.allNamespaces)
			if err != nil {
				return err
			}
			seats, err := listSeats(cmd.Context(), c, sc, pool, assignee)
			if err != nil {
				return action{what: "read seats", role: roleReports, scope: sc}.explain(err)
			}
			// The operator grants seats in creation order, then by name.
			slices.SortFunc(seats, func(x, y v1alpha1.SeatAssignment) int {
				return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Spec.PoolName, y.Spec.PoolName),
					x.CreationTimestamp.Compare(y.CreationTimestamp.Time), cmp.Compare(x.Name, y.Name))
			})
			rows := make([]seatRow, 0, len(seats))
			for i := range seats {
				s := &seats[i]
				// Again here: a server without selectable fields returned the whole scope.
				if (pool == "" || s.Spec.PoolName == pool) && (assignee == "" || s.Spec.Assignee.Name == assignee) {
					rows = append(rows, seatRowOf(s))
				}
			}
			return render(a.stdout, a.stderr, lf.output, rows, seatColumns, sc, "seats")
		},
	}
	lf.bind(cmd)
	cmd.Flags().StringVar(&pool, "pool", "", "Only the seats of this pool")
	cmd.Flags().StringVar(&assignee, "assignee", "", "Only the seats of this user or device")
	_ = cmd.RegisterFlagCompletionFunc("pool", a.completePools)
	return cmd
}
