package portal

import (
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestLoopbackHost(t *testing.T) {
	l := &Local{port: 8765}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8765", true},
		{"localhost:8765", true},
		{"[::1]:8765", true},
		{"127.0.0.1:8766", false},
		{"localhost:80", false},
		{"evil.example:8765", false},
		{"127.0.0.1.evil.example:8765", false},
		{"localhost.evil.example:8765", false},
		{"127.0.0.2:8765", false},
		{"0.0.0.0:8765", false},
		{"127.0.0.1", false},
		{"localhost", false},
		{"127.0.0.1:", false},
		{":8765", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := l.loopbackHost(tt.host); got != tt.want {
			t.Errorf("loopbackHost(%q) = %t, want %t", tt.host, got, tt.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"},
		{"BEARER abc.def-ghi_jkl", "abc.def-ghi_jkl"},
		{"Bearer  abc ", "abc"},
		{"Bearer ", ""},
		{"Bearer", ""},
		{"Basic x", ""},
		{"Bearerabc", ""},
		{"", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := bearerToken(r); got != tt.want {
			t.Errorf("bearerToken(Authorization %q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := (&Viewer{csrfKey: []byte("k")}).csrfToken(), (&Viewer{csrfKey: []byte("k")}).csrfToken()
	other := (&Viewer{csrfKey: []byte("l")}).csrfToken()
	if a != b || a == other || len(a) < 40 {
		t.Errorf("csrfToken: %q, %q for the same key and %q for another: want one stable token per key", a, b, other)
	}
}

func TestCheckChange(t *testing.T) {
	v := &Viewer{csrfKey: []byte("k")}
	good := v.csrfToken()
	tests := []struct {
		name    string
		csrf    string
		headers map[string]string
		want    bool
	}{
		{name: "good csrf", csrf: good, want: true},
		{name: "wrong csrf", csrf: "nope", want: false},
		{name: "no csrf", csrf: "", want: false},
		{name: "another viewer's csrf", csrf: (&Viewer{csrfKey: []byte("other")}).csrfToken(), want: false},
		{name: "Origin of this host", csrf: good, headers: map[string]string{"Origin": "http://127.0.0.1:8765"}, want: true},
		{name: "Origin of this host, https", csrf: good, headers: map[string]string{"Origin": "https://127.0.0.1:8765"}, want: true},
		{name: "Origin null", csrf: good, headers: map[string]string{"Origin": "null"}, want: true},
		{name: "Origin of another host", csrf: good, headers: map[string]string{"Origin": "http://evil.example"}, want: false},
		{name: "Origin of another port", csrf: good, headers: map[string]string{"Origin": "http://127.0.0.1:8766"}, want: false},
		{name: "Origin with the host as a prefix", csrf: good, headers: map[string]string{"Origin": "http://127.0.0.1:8765.evil.example"}, want: false},
		{name: "Sec-Fetch-Site same-origin", csrf: good, headers: map[string]string{"Sec-Fetch-Site": "same-origin"}, want: true},
		{name: "Sec-Fetch-Site none", csrf: good, headers: map[string]string{"Sec-Fetch-Site": "none"}, want: true},
		{name: "Sec-Fetch-Site cross-site", csrf: good, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: false},
		{name: "Sec-Fetch-Site same-site", csrf: good, headers: map[string]string{"Sec-Fetch-Site": "same-site"}, want: false},
		{name: "both good", csrf: good, headers: map[string]string{"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"}, want: true},
		{name: "good Origin, wrong csrf", csrf: "nope", headers: map[string]string{"Origin": "http://127.0.0.1:8765"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"other": {"x"}}
			if tt.csrf != "" {
				form.Set("csrf", tt.csrf)
			}
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8765/ns/acme/sessions/end", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, val := range tt.headers {
				r.Header.Set(k, val)
			}
			if got := v.checkChange(r); got != tt.want {
				t.Errorf("checkChange = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestLocalGuard(t *testing.T) {
	l, err := NewLocal(&rest.Config{Host: "https://127.0.0.1:1"}, 8765)
	if err != nil {
		t.Fatal(err)
	}
	if l.token == "" || l.URL() != "http://127.0.0.1:8765/?token="+l.token {
		t.Fatalf("token %q, URL %q", l.token, l.URL())
	}
	v, err := l.Viewer(nil)
	if err != nil || v.Client == nil || string(v.csrfKey) != l.token {
		t.Fatalf("Viewer: %+v, %v; want a client and the token as the CSRF key", v, err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	guard := l.Guard(ok)
	const cookie = "seatkeeper-portal-8765"
	tests := []struct {
		name   string
		host   string
		target string
		cookie string // the cookie's value; "" for none
		status int
		// moveOn is where the page that trades the token for the cookie sends the browser on.
		moveOn string
	}{
		{name: "no cookie", host: "127.0.0.1:8765", target: "/", status: http.StatusUnauthorized},
		{name: "no cookie, static", host: "127.0.0.1:8765", target: "/static/portal.css", status: http.StatusUnauthorized},
		{name: "the token", host: "127.0.0.1:8765", target: "/?token=" + l.token, status: http.StatusOK, moveOn: "/"},
		{name: "the token, other parameters kept", host: "localhost:8765", target: "/ns/acme/seats?pool=cad&token=" + l.token,
			status: http.StatusOK, moveOn: "/ns/acme/seats?pool=cad"},
		{name: "the token on a path that names another host", host: "127.0.0.1:8765", target: "//evil.example/?token=" + l.token,
			status: http.StatusOK, moveOn: "/evil.example/"},
		{name: "a wrong token", host: "127.0.0.1:8765", target: "/?token=nope", status: http.StatusUnauthorized},
		{name: "a wrong token with the right cookie", host: "127.0.0.1:8765", target: "/?token=nope", cookie: l.token, status: http.StatusUnauthorized},
		{name: "the right cookie", host: "127.0.0.1:8765", target: "/ns/acme/", cookie: l.token, status: http.StatusOK},
		{name: "the right cookie, localhost", host: "localhost:8765", target: "/", cookie: l.token, status: http.StatusOK},
		{name: "a wrong cookie", host: "127.0.0.1:8765", target: "/", cookie: "nope", status: http.StatusUnauthorized},
		{name: "an empty cookie", host: "127.0.0.1:8765", target: "/", cookie: `""`, status: http.StatusUnauthorized},
		{name: "another host, right cookie", host: "evil.example:8765", target: "/", cookie: l.token, status: http.StatusMisdirectedRequest},
		{name: "another host, the token", host: "evil.example:8765", target: "/?token=" + l.token, status: http.StatusMisdirectedRequest},
		{name: "another port, right cookie", host: "127.0.0.1:8766", target: "/", cookie: l.token, status: http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			r.Host = tt.host
			if tt.cookie != "" {
				r.Header.Set("Cookie", cookie+"="+tt.cookie)
			}
			w := httptest.NewRecorder()
			guard.ServeHTTP(w, r)
			res := w.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			body := w.Body.String()
			if tt.moveOn != "" {
				if want := `content="0;url=` + html.EscapeString(tt.moveOn) + `"`; !strings.Contains(body, want) {
					t.Errorf("body %q, want it to move on with %s", body, want)
				}
			} else if tt.status == http.StatusOK {
				if body != "ok" {
					t.Errorf("body %q, want the handler's", body)
				}
			} else if body == "ok" {
				t.Errorf("the handler ran")
			}
			if strings.Contains(body, l.token) {
				t.Errorf("the answer shows the token: %q", body)
			}
			if got := res.Header.Get("Location"); got != "" {
				t.Errorf("Location %q, want none (a redirect would lose the Strict cookie)", got)
			}
			cookies := res.Cookies()
			if tt.moveOn == "" {
				if len(cookies) != 0 {
					t.Errorf("cookies set: %v, want none", cookies)
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("cookies %v, want one", cookies)
			}
			c := cookies[0]
			if c.Name != cookie || c.Value != l.token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Errorf("cookie %q; want %s=<token>; Path=/; HttpOnly; SameSite=Strict", c.String(), cookie)
			}
		})
	}

	// The guard's refusals are in the viewer's language.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = "127.0.0.1:8765"
	r.Header.Set("Accept-Language", "fr")
	w := httptest.NewRecorder()
	guard.ServeHTTP(w, r)
	if body := w.Body.String(); !strings.Contains(body, `lang="fr"`) || !strings.Contains(body, template.HTMLEscapeString(messagesFR["guard.token.title"])) {
		t.Errorf("the refusal is not in French:\n%s", body)
	}
}

// TestLaunchPage checks the page --open hands to the browser: readable by the user alone, in a
// private folder, sending the browser on to the portal's address, and removed by remove.
func TestLaunchPage(t *testing.T) {
	url := "http://127.0.0.1:4321/?token=s3cret&x=<y>"
	fileURL, remove, err := LaunchPage(url)
	if err != nil {
		t.Fatal(err)
	}
	page := strings.TrimPrefix(fileURL, "file://")
	if !strings.HasPrefix(fileURL, "file:///") {
		t.Fatalf("LaunchPage = %q, want a file:/// URL", fileURL)
	}
	for path, want := range map[string]os.FileMode{page: 0o600, filepath.Dir(page): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if want := `content="0;url=http://127.0.0.1:4321/?token=s3cret&amp;x=&lt;y&gt;"`; !strings.Contains(string(b), want) {
		t.Errorf("page %s\nwant it to contain %s", b, want)
	}
	remove()
	if _, err := os.Stat(filepath.Dir(page)); !os.IsNotExist(err) {
		t.Errorf("after remove: %v, want the folder gone", err)
	}
}
