package main

import (
	"strconv"
	"strings"
)

// metricSet is a scrape of the Prometheus text format: enough of it for counters and gauges.
type metricSet []metricSample

type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text exposition format, skipping comments and lines it
// cannot read.
func parseMetrics(text string) metricSet {
	var out metricSet
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		var s metricSample
		rest := line
		if i := strings.IndexAny(line, "{ "); i > 0 && line[i] == '{' {
			s.name = line[:i]
			end := strings.LastIndexByte(line, '}')
			if end < i {
				continue
			}
			s.labels = parseLabels(line[i+1 : end])
			rest = line[end+1:]
		} else if i > 0 {
			s.name, rest = line[:i], line[i:]
		} else {
			continue
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// parseLabels reads `a="x",b="y"`, with the format's escapes in values.
func parseLabels(s string) map[string]string {
	labels := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return labels
		}
		key := strings.TrimSpace(s[:eq])
		var val strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		labels[key] = val.String()
		s = strings.TrimLeft(s[min(i+1, len(s)):], ", ")
	}
	return labels
}

// sum adds the samples named name whose labels include the given key, value pairs.
func (m metricSet) sum(name string, keyValues ...string) float64 {
	var total float64
next:
	for _, s := range m {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(keyValues); i += 2 {
			if s.labels[keyValues[i]] != keyValues[i+1] {
				continue next
			}
		}
		total += s.value
	}
	return total
}
