package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// syncBuffer is a bytes.Buffer that the command writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testKubeconfig points at an API server that nothing listens on: the portal makes its client
// but contacts the cluster only for pages, which these tests do not open.
const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
users:
- name: tester
  user:
    token: not-a-real-token
contexts:
- name: test-context
  context:
    cluster: nowhere
    user: tester
    namespace: acme
current-context: test-context
`

var portalURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=\S+`)

// TestPortalCommand starts `kubectl licenses portal` on a free port, checks that it prints its
// address and guards it, and that it stops when its context ends.
func TestPortalCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--kubeconfig", path, "portal", "--port", "0"}, &stdout, &stderr, connect, clock.RealClock{})
	}()

	var address string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if out := stdout.String(); strings.Contains(out, "http://127.0.0.1:") {
			address = portalURL.FindString(out)
			break
		}
		select {
		case c := <-code:
			t.Fatalf("the portal exited with %d before printing its address: stdout %q, stderr %q", c, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed within 10s: stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if address == "" {
		t.Fatalf("no portal address with a token in %q", stdout.String())
	}
	if out := stdout.String(); !strings.Contains(out, `(context "test-context")`) || !strings.HasPrefix(out, "Licence portal: "+address+"\n") {
		t.Errorf("stdout %q: want the address and the context", out)
	}
	base := address[:strings.Index(address, "?")]
	if base == "http://127.0.0.1:0/" {
		t.Fatalf("the address names port 0, not the port listened on: %s", address)
	}

	noRedirect := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(url string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(body)
	}

	if res, _ := get(base); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s without the cookie: status %d, want %d", base, res.StatusCode, http.StatusUnauthorized)
	}
	if res, _ := get(base + "?token=wrong"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET with a wrong token: status %d, want %d", res.StatusCode, http.StatusUnauthorized)
	}
	res, _ := get(address)
	if res.StatusCode != http.StatusOK || res.Header.Get("Location") != "" {
		t.Errorf("GET %s: status %d, Location %q; want 200 and a page that moves on", address, res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %q, want one HttpOnly SameSite=Strict cookie", res.Header.Values("Set-Cookie"))
	}
	if res, body := get(base+"healthz", cookies[0]); res.StatusCode != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz with the cookie: status %d, body %q; want 200 ok", res.StatusCode, body)
	}
	if res, _ := get(base+"static/portal.css", cookies[0]); res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /static/portal.css with the cookie: status %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d after the context ended, want 0; stderr %q", c, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the portal did not stop within 5s of its context ending")
	}
	if got := stderr.String(); got != "" {
		t.Errorf("stderr %q, want nothing", got)
	}
	if _, err := noRedirect.Get(base + "healthz"); err == nil {
		t.Errorf("the portal still answers after it stopped")
	}
}

// TestPortalBadPort checks that a port out of range is a usage error, found before anything
// else is done.
func TestPortalBadPort(t *testing.T) {
	for _, port := range []string{"70000", "-1"} {
		t.Run(port, func(t *testing.T) {
			r := runWith(t, nil, "portal", "--port", port)
			want := "error: --port " + port + " is not a port: give 1-65535, or 0 for a free one\nSee 'kubectl licenses --help' for usage.\n"
			if r.code != 1 || r.stdout != "" || r.stderr != want || r.flags != nil {
				t.Errorf("exit code %d, connected %v, stdout %q\nstderr %q\nwant 1, not connected, nothing and\n       %q",
					r.code, r.flags != nil, r.stdout, r.stderr, want)
			}
		})
	}
	r := runWith(t, nil, "portal", "--port", "eighty")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid argument \"eighty\"") || !strings.Contains(r.stderr, "See 'kubectl licenses --help' for usage.") {
		t.Errorf("--port eighty: exit code %d, stderr %q", r.code, r.stderr)
	}
}
