package agent

import "strings"

// sessionNamePrefix turns a holder (a user name, an e-mail, a pod name) into a DNS-safe prefix
// for generated session names.
func sessionNamePrefix(holder string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(holder) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	p := strings.Trim(b.String(), "-")
	if p == "" {
		p = "session"
	}
	return p + "-"
}
