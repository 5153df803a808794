package portal

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestToggleOf(t *testing.T) {
	free := &poolView{Name: "cad", SeatsBound: 3, SeatsLimit: int32p(5)}
	full := &poolView{Name: "cad", SeatsBound: 5, SeatsLimit: int32p(5)}
	unlimited := &poolView{Name: "cad", SeatsBound: 50}
	managed := &poolView{Name: "cad", SeatsBound: 5, SeatsLimit: int32p(5), ManagedBy: "flexlm"}
	managedFree := &poolView{Name: "cad", SeatsBound: 1, SeatsLimit: int32p(5), ManagedBy: "flexlm"}
	tests := []struct {
		name      string
		canChange bool
		enabled   bool
		pool      *poolView
		want      toggle
	}{
		{name: "may not change, on, pool unknown", canChange: false, enabled: true, pool: nil, want: toggleHidden},
		{name: "may not change, off, pool full", canChange: false, enabled: false, pool: full, want: toggleHidden},
		{name: "may not change, off, pool free", canChange: false, enabled: false, pool: free, want: toggleHidden},
		{name: "may not change wins over managed", canChange: false, enabled: true, pool: managed, want: toggleHidden},
		{name: "on, pool unknown", canChange: true, enabled: true, pool: nil, want: toggleOff},
		{name: "off, pool unknown", canChange: true, enabled: false, pool: nil, want: toggleOn},
		{name: "on, pool free", canChange: true, enabled: true, pool: free, want: toggleOff},
		{name: "off, pool free", canChange: true, enabled: false, pool: free, want: toggleOn},
		{name: "on, pool full: may turn off", canChange: true, enabled: true, pool: full, want: toggleOff},
		{name: "off, pool full: unavailable", canChange: true, enabled: false, pool: full, want: toggleUnavailable},
		{name: "off, no seat limit", canChange: true, enabled: false, pool: unlimited, want: toggleOn},
		{name: "on, managed", canChange: true, enabled: true, pool: managed, want: toggleManaged},
		{name: "off, managed and full", canChange: true, enabled: false, pool: managed, want: toggleManaged},
		{name: "off, managed and free", canChange: true, enabled: false, pool: managedFree, want: toggleManaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := toggleOf(tt.canChange, tt.enabled, tt.pool); got != tt.want {
				t.Errorf("toggleOf(%t, %t, %+v) = %d, want %d", tt.canChange, tt.enabled, tt.pool, got, tt.want)
			}
		})
	}
}

// TestToggleMethods checks what the template asks of each toggle.
func TestToggleMethods(t *testing.T) {
	type asked struct{ Shown, Usable, TurnsOn, Unavailable, Managed bool }
	tests := map[toggle]asked{
		toggleHidden:      {},
		toggleOn:          {Shown: true, Usable: true, TurnsOn: true},
		toggleOff:         {Shown: true, Usable: true},
		toggleUnavailable: {Shown: true, Unavailable: true},
		toggleManaged:     {Shown: true, Managed: true},
	}
	for tg, want := range tests {
		got := asked{tg.Shown(), tg.Usable(), tg.TurnsOn(), tg.Unavailable(), tg.Managed()}
		if got != want {
			t.Errorf("toggle %d: %+v, want %+v", tg, got, want)
		}
	}
}

func TestSeatNamePrefix(t *testing.T) {
	tests := []struct {
		assignee, want string
	}{
		{assignee: "Alice.Smith@acme.example", want: "alice-smith-acme-example-"},
		{assignee: "bob", want: "bob-"},
		{assignee: "  --Bob__Jones--  ", want: "bob-jones-"},
		{assignee: "Zoë Ünal", want: "zo-nal-"},
		{assignee: "kiosk-07", want: "kiosk-07-"},
		{assignee: "   ", want: "seat-"},
		{assignee: "", want: "seat-"},
		{assignee: "@@@", want: "seat-"},
		{assignee: strings.Repeat("x", 60), want: strings.Repeat("x", 40) + "-"},
		// Cut at 40 just after a separator: the separator goes, not doubled with the final dash.
		{assignee: strings.Repeat("a", 39) + "." + strings.Repeat("b", 20), want: strings.Repeat("a", 39) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.assignee, func(t *testing.T) {
			got := seatNamePrefix(tt.assignee)
			if got != tt.want {
				t.Errorf("seatNamePrefix(%q) = %q, want %q", tt.assignee, got, tt.want)
			}
			if len(got) > 41 || !strings.HasSuffix(got, "-") || strings.HasSuffix(got, "--") {
				t.Errorf("seatNamePrefix(%q) = %q: want at most 41 characters ending in one dash", tt.assignee, got)
			}
			// The API server adds five characters to the prefix.
			if errs := validation.IsDNS1123Subdomain(got + "x7k2p"); len(errs) > 0 {
				t.Errorf("seatNamePrefix(%q) = %q makes no valid name: %v", tt.assignee, got, errs)
			}
		})
	}
}

func TestSeatFilter(t *testing.T) {
	seat := seatView{Name: "alice-1", Pool: "cad-named", Product: "cad", Assignee: "Alice.Smith@acme.example"}
	tests := []struct {
		name   string
		filter seatFilter
		want   bool
	}{
		{name: "no filter", filter: seatFilter{}, want: true},
		{name: "its pool", filter: seatFilter{Pool: "cad-named"}, want: true},
		{name: "another pool", filter: seatFilter{Pool: "cad"}, want: false},
		{name: "a pool prefix is not its pool", filter: seatFilter{Pool: "cad-name"}, want: false},
		{name: "its product", filter: seatFilter{Product: "cad"}, want: true},
		{name: "another product", filter: seatFilter{Product: "CAD"}, want: false},
		{name: "assignee substring", filter: seatFilter{Assignee: "smith@"}, want: true},
		{name: "assignee, case-insensitive", filter: seatFilter{Assignee: "ALICE.smith"}, want: true},
		{name: "assignee whole", filter: seatFilter{Assignee: "alice.smith@acme.example"}, want: true},
		{name: "another assignee", filter: seatFilter{Assignee: "bob"}, want: false},
		{name: "all three", filter: seatFilter{Pool: "cad-named", Product: "cad", Assignee: "acme"}, want: true},
		{name: "pool right, assignee wrong", filter: seatFilter{Pool: "cad-named", Assignee: "bob"}, want: false},
		{name: "assignee right, product wrong", filter: seatFilter{Product: "remote", Assignee: "alice"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.matches(seat); got != tt.want {
				t.Errorf("%+v.matches(%+v) = %t, want %t", tt.filter, seat, got, tt.want)
			}
		})
	}
}
