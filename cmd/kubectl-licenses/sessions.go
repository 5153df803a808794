package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/report"
)

// sessionRow is one SharedSession in `sessions`, the session log: the portal exports the same rows.
type sessionRow = report.SessionRow

var sessionColumns = []column[sessionRow]{
	{header: "NAMESPACE", cell: func(r sessionRow) string { return r.Namespace }, allNamespacesOnly: true},
	{header: "NAME", cell: func(r sessionRow) string { return r.Name }},
	{header: "POOL", cell: func(r sessionRow) string { return r.Pool }},
	{header: "HOLDER", cell: func(r sessionRow) string { return r.Holder }},
	{header: "PEER", cell: func(r sessionRow) string { return r.Peer }},
	{header: "LICENCES", cell: func(r sessionRow) string { return strconv.Itoa(int(r.Licences)) }},
	{header: "STATE", cell: func(r sessionRow) string { return r.State }},
	{header: "PHASE", cell: func(r sessionRow) string { return r.Phase }},
	{header: "START", cell: func(r sessionRow) string { return optionalTime(r.Start) }},
	{header: "END", cell: func(r sessionRow) string { return optionalTime(r.End) }},
	{header: "DURATION", cell: func(r sessionRow) string {
		if r.Duration == nil {
			return ""
		}
		return *r.Duration
	}},
	{header: "REASON", cell: func(r sessionRow) string { return r.Reason }},
	{header: "POSITION", cell: func(r sessionRow) string {
		if r.QueuePosition == nil {
			return ""
		}
		return strconv.Itoa(int(*r.QueuePosition))
	}},
	{header: "PRIORITY", cell: func(r sessionRow) string { return strconv.Itoa(int(r.Priority)) }, wide: true},
	{header: "NOTICE", cell: func(r sessionRow) string { return r.Notice }, wide: true},
	{header: "ENDS AT", cell: func(r sessionRow) string { return optionalTime(r.EndsAt) }, wide: true},
	{header: "PREEMPTED BY", cell: func(r sessionRow) string { return r.PreemptedBy }, wide: true},
	{header: "OVERDRAFT", cell: func(r sessionRow) string {
		if !r.Overdraft {
			return ""
		}
		return "true"
	}, wide: true},
}

// sessionFilter is what `sessions` selects besides the namespace.
type sessionFilter struct {
	pool, holder           string
	active, waiting, ended bool
}

func (f sessionFilter) validate() error {
	n := 0
	for _, b := range []bool{f.active, f.waiting, f.ended} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("--active, --waiting and --ended exclude each other: give one, or none for every session")
	}
	return nil
}

func (f sessionFilter) matches(s *v1alpha1.SharedSession) bool {
	switch {
	case f.pool != "" && s.Spec.PoolName != f.pool, f.holder != "" && s.Spec.Holder != f.holder:
		return false
	case f.active:
		return s.Status.Phase == v1alpha1.SessionActive
	case f.waiting:
		return s.Status.Phase == v1alpha1.SessionWaiting
	case f.ended:
		return s.Status.Phase == v1alpha1.SessionEnded
	}
	return true
}

const sessionsLong = `List shared sessions: the session log. For each session: its holder (from) and peer (to), the
state the holder reports (Idle or Connected), its phase (Waiting, Active or Ended), when it was
granted (start) and ended (end), how long it held the licence (until now while Active), why it
ended (reason), its place in the queue while Waiting, and how many shared licences it takes
(licences, spec.count: 1 unless the session asked for several at once). Ended sessions stay for the pool's
sessionPolicy.retainEnded (24h unless set) as the record.

-o wide adds what the pools' licence policies need: PRIORITY (spec.priority); for an Active
session under notice, NOTICE (CapacityReduced, or Preempted: the waiting session under
PREEMPTED BY takes its licences) and ENDS AT, when it ends unless a licence frees first; and
OVERDRAFT, true while the session holds licences beyond its pool's limit. CSV and JSON have
them after licences: priority, notice, endsAt, preemptedBy and overdraft.

Times are RFC 3339 in UTC. CSV and JSON give the duration twice: durationSeconds, a whole
number of seconds, and duration, h:mm:ss (hours run past 24), which a spreadsheet reads as a
time span. CSV is RFC 4180 (header row, CRLF line ends, UTF-8); a text field that starts with
= + - or @ gets a leading apostrophe, so that a spreadsheet does not run it as a formula.

Sessions are listed by pool, then oldest first.`

const sessionsExample = `  # Who holds a shared licence now
  kubectl licenses sessions -n acme --active

  # The queue
  kubectl licenses sessions -n acme --waiting

  # Who is under notice or in overdraft
  kubectl licenses sessions -n acme --active -o wide

  # One holder's sessions, as JSON
  kubectl licenses sessions -n acme --holder alice@acme.example -o json

  # The log of ended sessions for a spreadsheet
  kubectl licenses sessions -n acme --ended -o csv > sessions.csv`

func (a *app) sessionsCommand() *cobra.Command {
	var lf listFlags
	var f sessionFilter
	cmd := &cobra.Command{
		Use:     "sessions [--pool POOL] [--holder HOLDER] [--active|--waiting|--ended]",
		Aliases: []string{"log"},
		Short:   "List shared sessions: the session log",
		Long:    sessionsLong,
		Example: sessionsExample,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.validate(); err != nil {
				return err
			}
			if err := f.validate(); err != nil {
				return err
			}
			c, sc, err := a.connect(lf.allNamespaces)
			if err != nil {
				return err
			}
			sessions, err := listSessions(cmd.Context(), c, sc, f.pool, f.holder)
			if err != nil {
				return action{what: "read sessions", role: roleReports, scope: sc}.explain(err)
			}
			report.SortSessions(sessions)
			now := a.clock.Now()
			rows := make([]sessionRow, 0, len(sessions))
			for i := range sessions {
				if f.matches(&sessions[i]) {
					rows = append(rows, report.SessionRowOf(&sessions[i], now))
				}
			}
			return render(a.stdout, a.stderr, lf.output, rows, sessionColumns, sc, "sessions")
		},
	}
	lf.bind(cmd)
	cmd.Flags().StringVar(&f.pool, "pool", "", "Only the sessions of this pool")
	cmd.Flags().StringVar(&f.holder, "holder", "", "Only the sessions of this holder")
	cmd.Flags().BoolVar(&f.active, "active", false, "Only sessions that hold a licence now (phase Active)")
	cmd.Flags().BoolVar(&f.waiting, "waiting", false, "Only sessions in the queue (phase Waiting)")
	cmd.Flags().BoolVar(&f.ended, "ended", false, "Only ended sessions, the record (phase Ended)")
	_ = cmd.RegisterFlagCompletionFunc("pool", a.completePools)
	return cmd
}
