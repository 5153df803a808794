// Package memtrim gives memory back to the operating system once a burst of work is over.
//
// The Go runtime collects garbage when the heap grows, and returns freed memory to the system
// in the background, down to what its last collection judged necessary. After a burst (the
// operator starting over 20,000 sessions, a storm of grants) that judgement dates from the
// burst: with nothing left to allocate no collection runs for minutes, and the process keeps
// the burst's high-water mark. Trimmer notices that the process has gone quiet after
// allocating a lot and runs one collection that returns the free memory at once. While work
// goes on it does nothing: the collector's own pacing is right then.
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Trimmer watches the heap's allocation counter.
type Trimmer struct {
	// Every is how often the counter is read.
	Every time.Duration
	// Quiet is the most the process may allocate in one Every and count as quiet.
	Quiet uint64
	// Burst is how much it must have allocated since the last trim for a trim to be worth it.
	Burst uint64
}

// Default trims after 64 MiB of allocation followed by 5 seconds with less than 2 MiB.
var Default = Trimmer{Every: 5 * time.Second, Quiet: 2 << 20, Burst: 64 << 20}

const allocsMetric = "/gc/heap/allocs:bytes"

// Run reads the counter every t.Every until ctx ends, trimming when a burst has gone quiet.
func (t Trimmer) Run(ctx context.Context) {
	tick := time.NewTicker(t.Every)
	defer tick.Stop()
	prev := allocated()
	lastTrim := prev
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := allocated()
		if t.due(prev, now, lastTrim) {
			debug.FreeOSMemory()
			lastTrim = allocated()
			now = lastTrim
		}
		prev = now
	}
}

// due reports whether to trim: the last interval allocated less than Quiet, and the process
// has allocated at least Burst since the last trim.
func (t Trimmer) due(prev, now, lastTrim uint64) bool {
	return now-prev < t.Quiet && now-lastTrim >= t.Burst
}

func allocated() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
