package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// TimeFormat formats a time for one output.
type TimeFormat func(time.Time) string

// RFC3339UTC is the plugin's one time format: RFC 3339, UTC, whole seconds.
func RFC3339UTC(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// WriteCSV writes RFC 4180 CSV of rows of one struct type: a header row of the JSON keys, CRLF
// line ends, fields quoted where needed. Absent values are empty fields; times are written with
// format.
func WriteCSV[R any](w io.Writer, rows []R, format TimeFormat) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader(reflect.TypeFor[R]())); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(csvRecord(reflect.ValueOf(r), format)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVHeader is the JSON keys of a row type, in order: its exported fields, which all carry a
// plain json tag (the plugin's tests check that the header equals the keys of the JSON output).
func CSVHeader(t reflect.Type) []string {
	header := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			header = append(header, name)
		}
	}
	return header
}

func csvRecord(v reflect.Value, format TimeFormat) []string {
	record := make([]string, 0, v.NumField())
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			record = append(record, csvField(v.Field(i), format))
		}
	}
	return record
}

var timeType = reflect.TypeFor[time.Time]()

// csvField formats one value: strings as they are (see SpreadsheetSafe), numbers in decimal,
// booleans as true/false, times with format, nil pointers as empty fields.
func csvField(v reflect.Value, format TimeFormat) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Type() == timeType {
		return format(v.Interface().(time.Time))
	}
	switch v.Kind() {
	case reflect.String:
		return SpreadsheetSafe(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	panic(fmt.Sprintf("no CSV format for %s", v.Type()))
}

// SpreadsheetSafe keeps a spreadsheet from reading a text field as a formula: holders and peers
// are written by agents, and a field such as =HYPERLINK(…) would run when an administrator opens
// the CSV. As OWASP advises, a text that starts with = + - @ or a tab or carriage return gets a
// leading apostrophe. Numbers and times are never text fields here, so they are left as they are.
func SpreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
