package agent

import "testing"

func TestSessionNamePrefix(t *testing.T) {
	for holder, want := range map[string]string{
		"alice":                    "alice-",
		"Alice.Smith@Acme.example": "alice-smith-acme-example-",
		"job-7-x2k9f":              "job-7-x2k9f-",
		"@@@":                      "session-",
		"a-very-long-holder-name-that-goes-on-and-on-and-on": "a-very-long-holder-name-that-goes-on-and-",
	} {
		if got := sessionNamePrefix(holder); got != want {
			t.Errorf("sessionNamePrefix(%q) = %q, want %q", holder, got, want)
		}
	}
}
