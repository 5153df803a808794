// Package report holds what seatkeeper's reports share between the kubectl plugin and the
// portal: the session log's rows (from, to, start, end, duration, reason) and their RFC 4180
// CSV form, so that `kubectl licenses sessions -o csv` and the portal's "Export CSV" give the
// same columns.
package report
