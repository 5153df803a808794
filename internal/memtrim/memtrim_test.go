package memtrim

import "testing"

func TestDue(t *testing.T) {
	tr := Trimmer{Quiet: 2, Burst: 64}
	tests := []struct {
		name                string
		prev, now, lastTrim uint64
		want                bool
	}{
		{"a burst just went quiet", 100, 101, 0, true},
		{"still busy", 100, 110, 0, false},
		{"quiet, but little allocated since the last trim", 100, 101, 90, false},
		{"idle since the last trim", 100, 100, 100, false},
		{"exactly a burst, exactly quiet below the limit", 64, 65, 1, true},
	}
	for _, tc := range tests {
		if got := tr.due(tc.prev, tc.now, tc.lastTrim); got != tc.want {
			t.Errorf("%s: due(%d, %d, %d) = %v, want %v", tc.name, tc.prev, tc.now, tc.lastTrim, got, tc.want)
		}
	}
}

func TestAllocatedCounts(t *testing.T) {
	before := allocated()
	sink = make([]byte, 1<<20)
	if after := allocated(); after < before+1<<20 {
		t.Errorf("allocating 1 MiB moved the counter from %d to %d", before, after)
	}
}

var sink []byte
