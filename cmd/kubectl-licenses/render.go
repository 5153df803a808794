package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A listing is rows of one struct type R. Its JSON is the rows as they are, by their json tags:
// an array of objects with lower-camel keys, null where a value is absent. Its CSV has the same
// keys as header, in the same order, so the two formats share one vocabulary. The table is for
// people and has its own columns.

// column is one column of a table.
type column[R any] struct {
	header string
	cell   func(R) string
	// allNamespacesOnly columns are shown only with -A (the namespace).
	allNamespacesOnly bool
}

// render writes rows in the format (table, csv or json). An empty table prints nothing on
// stdout and says so on stderr, as kubectl does; CSV then has only its header and JSON is [].
func render[R any](stdout, stderr io.Writer, format string, rows []R, cols []column[R], sc scope, noun string) error {
	switch format {
	case "json":
		return writeJSON(stdout, rows)
	case "csv":
		return writeCSV(stdout, rows)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(stderr, "No %s found %s.\n", noun, sc)
		return err
	}
	return writeTable(stdout, rows, cols, sc.all)
}

func writeTable[R any](w io.Writer, rows []R, cols []column[R], allNamespaces bool) error {
	// The same settings as kubectl's tables.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 6, 4, 3, ' ', 0)
	var shown []column[R]
	for _, c := range cols {
		if !c.allNamespacesOnly || allNamespaces {
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

// writeCSV writes RFC 4180 CSV: a header row of the JSON keys, CRLF line ends, fields quoted
// where needed. Absent values are empty fields; times are RFC 3339 in UTC.
func writeCSV[R any](w io.Writer, rows []R) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader(reflect.TypeFor[R]())); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(csvRecord(reflect.ValueOf(r))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvHeader is the JSON keys of a row type, in order: its exported fields, which all carry a
// plain json tag (a test checks that the header equals the keys of the JSON output).
func csvHeader(t reflect.Type) []string {
	header := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			header = append(header, name)
		}
	}
	return header
}

func csvRecord(v reflect.Value) []string {
	record := make([]string, 0, v.NumField())
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			record = append(record, csvField(v.Field(i)))
		}
	}
	return record
}

var timeType = reflect.TypeFor[time.Time]()

// csvField formats one value: strings as they are (see spreadsheetSafe), numbers in decimal,
// booleans as true/false, times as RFC 3339 UTC, nil pointers as empty fields.
func csvField(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Type() == timeType {
		return formatTime(v.Interface().(time.Time))
	}
	switch v.Kind() {
	case reflect.String:
		return spreadsheetSafe(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	panic(fmt.Sprintf("no CSV format for %s", v.Type()))
}

// spreadsheetSafe keeps a spreadsheet from reading a text field as a formula: holders and peers
// are written by agents, and a field such as =HYPERLINK(…) would run when an administrator opens
// the CSV. As OWASP advises, a text that starts with = + - @ or a tab or carriage return gets a
// leading apostrophe. Numbers and times are never text fields here, so they are left as they are.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// formatTime is the one time format of every output: RFC 3339, UTC, whole seconds.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// clockDuration formats d as h:mm:ss (hours not wrapped at 24), which spreadsheets read as a
// duration.
func clockDuration(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
