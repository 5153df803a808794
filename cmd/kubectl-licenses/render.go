package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/seatkeeper/seatkeeper/internal/report"
)

// A listing is rows of one struct type R. Its JSON is the rows as they are, by their json tags:
// an array of objects with lower-camel keys, null where a value is absent. Its CSV has the same
// keys as header, in the same order, so the two formats share one vocabulary. The table is for
// people and has its own columns; -o wide adds the columns marked wide, at the end, as kubectl
// does, and leaves the others as they are.

// column is one column of a table.
type column[R any] struct {
	header string
	cell   func(R) string
	// allNamespacesOnly columns are shown only with -A (the namespace).
	allNamespacesOnly bool
	// wide columns are shown only with -o wide.
	wide bool
}

// render writes rows in the format (table, wide, csv or json). An empty table prints nothing on
// stdout and says so on stderr, as kubectl does; CSV then has only its header and JSON is [].
func render[R any](stdout, stderr io.Writer, format string, rows []R, cols []column[R], sc scope, noun string) error {
	switch format {
	case "json":
		return writeJSON(stdout, rows)
	case "csv":
		return report.WriteCSV(stdout, rows, formatTime)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(stderr, "No %s found %s.\n", noun, sc)
		return err
	}
	return writeTable(stdout, rows, cols, sc.all, format == "wide")
}

func writeTable[R any](w io.Writer, rows []R, cols []column[R], allNamespaces, wide bool) error {
	// The same settings as kubectl's tables.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 6, 4, 3, ' ', 0)
	var shown []column[R]
	for _, c := range cols {
		if (!c.allNamespacesOnly || allNamespaces) && (!c.wide || wide) {
			shown = append(shown, c)
		}
	}
	cells := make([]string, len(shown))
	for i, c := range shown {
		cells[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, r := range rows {
		for i, c := range shown {
			cells[i] = tableCell(c.cell(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads a cell followed by empty ones; the padding at a line's end is noise.
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// tableCell keeps a value on one line and in its column.
var tableCell = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ").Replace

func writeJSON[R any](w io.Writer, rows []R) error {
	if rows == nil {
		rows = []R{} // [] rather than null
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rows)
}

// formatTime is the one time format of every output: RFC 3339, UTC, whole seconds.
func formatTime(t time.Time) string { return report.RFC3339UTC(t) }
