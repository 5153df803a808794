package portal

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// fmtVerb is one fmt verb of a message, with its flags, width and precision.
var fmtVerb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestCatalogs checks that the three catalogs have the same keys, that every translation takes
// the same arguments in the same order as the English message, and that no message is empty.
func TestCatalogs(t *testing.T) {
	others := map[string]map[string]string{"fr": messagesFR, "it": messagesIT}
	for lang, cat := range others {
		for key := range messagesEN {
			if _, ok := cat[key]; !ok {
				t.Errorf("%s: key %q of messagesEN is missing", lang, key)
			}
		}
		for key := range cat {
			if _, ok := messagesEN[key]; !ok {
				t.Errorf("%s: key %q is not in messagesEN", lang, key)
			}
		}
		for key, msg := range cat {
			en, ok := messagesEN[key]
			if !ok {
				continue
			}
			if diff := cmp.Diff(fmtVerb.FindAllString(en, -1), fmtVerb.FindAllString(msg, -1)); diff != "" {
				t.Errorf("%s: the fmt verbs of %q differ from English (-en +%s):\n%s", lang, key, lang, diff)
			}
		}
	}
	for lang, cat := range map[string]map[string]string{"en": messagesEN, "fr": messagesFR, "it": messagesIT} {
		for key, msg := range cat {
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s: %q is empty", lang, key)
			}
		}
	}
	if diff := cmp.Diff(languages, slices.Sorted(func(yield func(string) bool) {
		for l := range catalogs {
			if !yield(l) {
				return
			}
		}
	})); diff != "" {
		t.Errorf("languages and catalogs differ (-languages +catalogs):\n%s", diff)
	}
}

var (
	templateKey = regexp.MustCompile(`\.T "([^"]+)"`)
	goKey       = regexp.MustCompile(`q\.T\("([^"]+)"\s*[,)]`)
	// The actions of refusals: reading("seats", ns) is "read seats"; changing and ordering name
	// the whole action.
	refusalWhat = regexp.MustCompile(`(reading|changing|ordering)\("([^"]+)"`)
)

// TestTemplatesUseKnownKeys checks that every key the templates and the code name exists, and
// that the families of keys made at run time (a phase, a reason, an action...) are complete.
func TestTemplatesUseKnownKeys(t *testing.T) {
	used := map[string][]string{} // key → where it is used
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(assets, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = append(used[m[1]], f)
		}
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	goFiles := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		goFiles++
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = append(used[m[1]], name)
		}
		for _, m := range refusalWhat.FindAllStringSubmatch(string(b), -1) {
			action := m[2]
			if m[1] == "reading" {
				action = "read " + action
			}
			if !slices.Contains(actions, action) {
				actions = append(actions, action)
			}
		}
	}
	if goFiles == 0 || len(actions) == 0 {
		t.Fatalf("read %d Go files and found %d actions: the test reads nothing", goFiles, len(actions))
	}
	// The test must see the keys it is meant to check, not silently match nothing.
	for _, key := range []string{"nav.skip", "accounts.caption", "seats.title", "chart.summary"} {
		if _, ok := used[key]; !ok {
			t.Errorf("the scan did not find the use of %q", key)
		}
	}
	for key, where := range used {
		if !hasKey(key) {
			t.Errorf("key %q (used in %s) is not in messagesEN", key, strings.Join(slices.Compact(slices.Sorted(slices.Values(where))), ", "))
		}
	}

	var dynamic []string
	family := func(prefix string, names ...string) {
		for _, n := range names {
			dynamic = append(dynamic, prefix+n)
		}
	}
	family("phase.", "Bound", "Pending", "Disabled", "Waiting", "Active", "Ended")
	family("phase.", string(v1alpha1.SessionWaiting), string(v1alpha1.SessionActive), string(v1alpha1.SessionEnded))
	family("state.", string(v1alpha1.SessionIdle), string(v1alpha1.SessionConnected))
	family("kind.", string(v1alpha1.AssigneeUser), string(v1alpha1.AssigneeDevice))
	for _, r := range []v1alpha1.EndReason{
		v1alpha1.EndTerminated, v1alpha1.EndHeartbeatExpired, v1alpha1.EndIdleTimeout, v1alpha1.EndMaxDurationExceeded,
		v1alpha1.EndPoolExpired, v1alpha1.EndPoolNotFound, v1alpha1.EndRejected, v1alpha1.EndNotEntitled,
		v1alpha1.EndCapacityReduced, v1alpha1.EndPreempted,
	} {
		family("reason.", string(r))
	}
	for _, p := range []v1alpha1.OrderPhase{
		v1alpha1.OrderUnassigned, v1alpha1.OrderScheduled, v1alpha1.OrderActive, v1alpha1.OrderExpired,
		v1alpha1.OrderCancelled, v1alpha1.OrderInvalid,
	} {
		family("order.", string(p))
	}
	family("lang.", languages...)
	family("export.format.", csvFormatNames...)
	for _, g := range []string{"host", "token", "signin", "csrf", "account"} {
		family("guard.", g, g+".title")
	}
	family("notice.", "seat-on", "seat-off", "seat-added", "ended", "assigned", "cancelled")
	family("action.", actions...)
	for _, key := range dynamic {
		if !hasKey(key) {
			t.Errorf("key %q is not in messagesEN", key)
		}
	}
}

func TestPickLanguage(t *testing.T) {
	tests := []struct {
		name           string
		acceptLanguage string
		cookie         string // the Cookie header
		want           string
	}{
		{name: "French with a region", acceptLanguage: "fr-FR,fr;q=0.9", want: "fr"},
		{name: "Italian", acceptLanguage: "it", want: "it"},
		{name: "English", acceptLanguage: "en-GB,en;q=0.8", want: "en"},
		{name: "an unknown language", acceptLanguage: "de-DE", want: "en"},
		{name: "no header", want: "en"},
		{name: "a malformed header", acceptLanguage: "fr;q=abc", want: "en"},
		{name: "the first known one by weight", acceptLanguage: "de;q=0.9, it;q=0.8", want: "it"},
		{name: "weights, not order", acceptLanguage: "it;q=0.5, fr;q=0.9", want: "fr"},
		{name: "the cookie wins", acceptLanguage: "it", cookie: "lang=fr", want: "fr"},
		{name: "the cookie alone", cookie: "lang=it", want: "it"},
		{name: "an unknown cookie is ignored", acceptLanguage: "it", cookie: "lang=xx", want: "it"},
		{name: "an unknown cookie alone", cookie: "lang=xx", want: "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.acceptLanguage != "" {
				r.Header.Set("Accept-Language", tt.acceptLanguage)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			if got := pickLanguage(r); got != tt.want {
				t.Errorf("pickLanguage(Accept-Language %q, Cookie %q) = %q, want %q", tt.acceptLanguage, tt.cookie, got, tt.want)
			}
		})
	}
}

func TestPickZone(t *testing.T) {
	tests := []struct {
		cookie string // the Cookie header
		want   string
	}{
		{cookie: "tz=Europe%2FRome", want: "Europe/Rome"},
		{cookie: "tz=Europe/Rome", want: "Europe/Rome"},
		{cookie: "tz=America%2FArgentina%2FBuenos_Aires", want: "America/Argentina/Buenos_Aires"},
		{cookie: "tz=Etc%2FGMT%2B1", want: "Etc/GMT+1"},
		{cookie: "tz=UTC", want: "UTC"},
		{cookie: "tz=Nowhere/Else", want: "UTC"},
		{cookie: "tz=Local", want: "UTC"},
		{cookie: "tz=%zz", want: "UTC"},
		{cookie: "tz=", want: "UTC"},
		{cookie: "lang=fr", want: "UTC"},
		{cookie: "", want: "UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.cookie, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			if got := pickZone(r).String(); got != tt.want {
				t.Errorf("pickZone(Cookie %q) = %q, want %q", tt.cookie, got, tt.want)
			}
		})
	}
}

func TestTranslate(t *testing.T) {
	const onlyEN = "test.only-in-english"
	messagesEN[onlyEN] = "only in English: %s"
	t.Cleanup(func() { delete(messagesEN, onlyEN) })

	tests := []struct {
		lang, key string
		args      []any
		want      string
	}{
		{lang: "en", key: "pools.title", args: []any{"acme"}, want: "Licences of acme"},
		{lang: "en", key: "orders.item", args: []any{int32(3), int32(2)}, want: "3 named seats, 2 shared licences"},
		{lang: "en", key: "orders.assign.bad", args: []any{"Bad Name"}, want: `"Bad Name" is not an account name: an account is a namespace (lower-case letters, digits and dashes).`},
		{lang: "fr", key: "pools.title", args: []any{"acme"}, want: strings.Replace(messagesFR["pools.title"], "%s", "acme", 1)},
		{lang: "it", key: "nav.orders", want: messagesIT["nav.orders"]},
		{lang: "en", key: "nav.orders", want: "Orders"},
		{lang: "it", key: "footer.zone", args: []any{"Europe/Rome"}, want: strings.Replace(messagesIT["footer.zone"], "%s", "Europe/Rome", 1)},
		// Missing in French: the English message.
		{lang: "fr", key: onlyEN, args: []any{"x"}, want: "only in English: x"},
		// An unknown language: English.
		{lang: "xx", key: "pools.title", args: []any{"acme"}, want: "Licences of acme"},
		// In no catalog: the key itself.
		{lang: "fr", key: "no.such.key", want: "no.such.key"},
		{lang: "en", key: "no.such.key", args: []any{1}, want: "no.such.key"},
	}
	for _, tt := range tests {
		if got := translate(tt.lang, tt.key, tt.args...); got != tt.want {
			t.Errorf("translate(%q, %q, %v) = %q, want %q", tt.lang, tt.key, tt.args, got, tt.want)
		}
	}
	if messagesFR["pools.title"] == messagesEN["pools.title"] {
		t.Errorf("the French pools.title is the English one: the French cases prove nothing")
	}
}

// fakeAuth lets every request through as one viewer without a client.
type fakeAuth struct{}

func (fakeAuth) Guard(next http.Handler) http.Handler { return next }
func (fakeAuth) Viewer(*http.Request) (*Viewer, error) {
	return &Viewer{Client: nil, csrfKey: []byte("k")}, nil
}

func newFakeServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Auth: fakeAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postPreferences sends the preferences form to s.
func postPreferences(s *Server, form url.Values) *http.Response {
	r := httptest.NewRequest(http.MethodPost, "/preferences", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Result()
}

func cookiesByName(res *http.Response) map[string]*http.Cookie {
	m := map[string]*http.Cookie{}
	for _, c := range res.Cookies() {
		m[c.Name] = c
	}
	return m
}

func TestSetPreferencesRedirect(t *testing.T) {
	s := newFakeServer(t)
	csrf := (&Viewer{csrfKey: []byte("k")}).csrfToken()
	tests := []struct {
		back, want string
	}{
		{back: "/ns/a/seats?pool=p", want: "/ns/a/seats?pool=p"},
		{back: "/", want: "/"},
		{back: "//evil.example", want: "/"},
		{back: "//evil.example/ns/a/seats", want: "/"},
		{back: "https://evil.example", want: "/"},
		{back: "/\\evil", want: "/evil"}, // a path of the portal, not //evil
		{back: "evil", want: "/evil"},
		{back: "", want: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.back, func(t *testing.T) {
			res := postPreferences(s, url.Values{"csrf": {csrf}, "lang": {"fr"}, "tz": {"Europe/Paris"}, "back": {tt.back}})
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want %d", res.StatusCode, http.StatusSeeOther)
			}
			if got := res.Header.Get("Location"); got != tt.want {
				t.Errorf("Location %q, want %q", got, tt.want)
			}
			cookies := cookiesByName(res)
			// The zone is URL-encoded, as the page's script writes it (pickZone decodes it).
			for name, value := range map[string]string{"lang": "fr", "tz": "Europe%2FParis"} {
				c := cookies[name]
				if c == nil {
					t.Errorf("no cookie %s in %q", name, res.Header.Values("Set-Cookie"))
					continue
				}
				if c.Value != value || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
					t.Errorf("cookie %s: %q; want value %q, SameSite=Strict, Path=/ and a Max-Age", name, c.String(), value)
				}
			}
		})
	}

	t.Run("unknown language and zone", func(t *testing.T) {
		res := postPreferences(s, url.Values{"csrf": {csrf}, "lang": {"xx"}, "tz": {"Nowhere/Else"}, "back": {"/orders"}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/orders" {
			t.Errorf("status %d, Location %q; want 303 to /orders", res.StatusCode, res.Header.Get("Location"))
		}
		if got := res.Header.Values("Set-Cookie"); len(got) != 0 {
			t.Errorf("cookies set: %q, want none", got)
		}
	})

	for name, form := range map[string]url.Values{
		"wrong csrf": {"csrf": {"nope"}, "lang": {"fr"}, "back": {"/"}},
		"no csrf":    {"lang": {"fr"}, "back": {"/"}},
		"csrf of another viewer": {"csrf": {(&Viewer{csrfKey: []byte("other")}).csrfToken()},
			"lang": {"fr"}, "back": {"/"}},
	} {
		t.Run(name, func(t *testing.T) {
			res := postPreferences(s, form)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want %d", res.StatusCode, http.StatusForbidden)
			}
			if got := res.Header.Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("cookies set: %q, want none", got)
			}
		})
	}
}

// TestPreferencesZoneRoundTrip checks that the zone chosen in the preferences form is the zone
// of the next page: the cookie setPreferences writes must read back through pickZone.
func TestPreferencesZoneRoundTrip(t *testing.T) {
	s := newFakeServer(t)
	csrf := (&Viewer{csrfKey: []byte("k")}).csrfToken()
	for _, zone := range []string{"Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT-3", "Etc/GMT+1"} {
		t.Run(zone, func(t *testing.T) {
			res := postPreferences(s, url.Values{"csrf": {csrf}, "tz": {zone}, "back": {"/"}})
			c := cookiesByName(res)["tz"]
			if c == nil {
				t.Fatalf("no tz cookie: status %d, %q", res.StatusCode, res.Header.Values("Set-Cookie"))
			}
			next := httptest.NewRequest(http.MethodGet, "/", nil)
			next.AddCookie(c)
			if got := pickZone(next).String(); got != zone {
				t.Errorf("chose %s, the cookie %q reads back as %s", zone, c.String(), got)
			}
		})
	}
}
