package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
	_ "time/tzdata" // the viewer's time zone, also on an image without /usr/share/zoneinfo

	"golang.org/x/text/language"
)

// The portal speaks English, French and Italian: the languages of the products its users come
// from. The catalogs are in messages_*.go, one map each with the same keys (a test checks).
var languages = []string{"en", "fr", "it"}

var catalogs = map[string]map[string]string{"en": messagesEN, "fr": messagesFR, "it": messagesIT}

var matcher = language.NewMatcher([]language.Tag{language.English, language.French, language.Italian})

// dateLayouts is how each language writes a date and time.
var dateLayouts = map[string]string{
	"en": "2006-01-02 15:04:05",
	"fr": "02/01/2006 15:04:05",
	"it": "02/01/2006 15:04:05",
}

// pickLanguage is the viewer's language: the selector's cookie, else the browser's
// Accept-Language, else English.
func pickLanguage(r *http.Request) string {
	if c, err := r.Cookie("lang"); err == nil && slices.Contains(languages, c.Value) {
		return c.Value
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	return languages[i]
}

// pickZone is the viewer's time zone: the selector's cookie (which the page's script sets from
// the browser on the first visit), else UTC.
func pickZone(r *http.Request) *time.Location {
	if c, err := r.Cookie("tz"); err == nil {
		// The script writes the zone URL-encoded (Europe%2FRome).
		name, err := url.QueryUnescape(c.Value)
		if err != nil || name == "" || name == "Local" {
			return time.UTC
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// commonZones are offered in the time-zone selector, with the viewer's own.
var commonZones = []string{
	"UTC", "Europe/London", "Europe/Paris", "Europe/Rome", "Europe/Berlin", "Europe/Madrid",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo",
	"Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
}

func zoneChoices(current string) []string {
	if slices.Contains(commonZones, current) {
		return commonZones
	}
	return append([]string{current}, commonZones...)
}

// translate renders key of lang's catalog with args (fmt verbs); English when lang lacks it, and
// the key itself when no catalog has it (a test keeps that from happening).
func translate(lang, key string, args ...any) string {
	msg, ok := catalogs[lang][key]
	if !ok {
		if msg, ok = messagesEN[key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

func hasKey(key string) bool {
	_, ok := messagesEN[key]
	return ok
}

// setPreferences stores the language and time zone the viewer chose, and goes back.
func (s *Server) setPreferences(q *req) {
	w, r := q.w, q.r
	const year = 365 * 24 * 3600
	if l := r.PostFormValue("lang"); slices.Contains(languages, l) {
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: year, SameSite: http.SameSiteStrictMode})
	}
	if z := r.PostFormValue("tz"); z != "" {
		if _, err := time.LoadLocation(z); err == nil {
			// Encoded as the page's script writes it (pickZone decodes it).
			http.SetCookie(w, &http.Cookie{Name: "tz", Value: url.QueryEscape(z), Path: "/", MaxAge: year, SameSite: http.SameSiteStrictMode})
		}
	}
	// Only a path of this portal: no open redirect.
	back, err := url.Parse(r.PostFormValue("back"))
	if err != nil || back.Scheme != "" || back.Host != "" || back.User != nil {
		back = &url.URL{Path: "/"}
	}
	http.Redirect(w, r, localPath(back.Path, back.Query()), http.StatusSeeOther)
}
