package portal

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// visitor is a browser without JavaScript: a cookie jar and the CSRF token of the last page.
type visitor struct {
	c      *http.Client
	base   string
	header http.Header
	csrf   string
}

func newVisitor(base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{base: base, header: http.Header{}, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// openLocal opens a local portal from its printed address, as the browser does.
func openLocal(lp localPortal) *visitor {
	GinkgoHelper()
	v := newVisitor(lp.base)
	resp, err := v.c.Get(lp.url)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Body.Close()).To(Succeed())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "the page that trades the token for the cookie")
	return v
}

type answer struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (v *visitor) do(req *http.Request) answer {
	GinkgoHelper()
	for k, vals := range v.header {
		req.Header[k] = vals
	}
	resp, err := v.c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Body.Close()).To(Succeed())
	a := answer{status: resp.StatusCode, body: html.UnescapeString(string(b)), location: resp.Header.Get("Location"), header: resp.Header}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		v.csrf = m[1]
	}
	return a
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (v *visitor) get(path string) answer {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, v.base+path, nil)
	Expect(err).NotTo(HaveOccurred())
	return v.do(req)
}

// post sends a form with the CSRF token of the last page read.
func (v *visitor) post(path string, form url.Values) answer {
	GinkgoHelper()
	if form.Get("csrf") == "" && v.csrf != "" {
		form.Set("csrf", v.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, v.base+path, strings.NewReader(form.Encode()))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

// refusalOf is the portal's (and the plugin's) sentence for a refused action in a namespace.
func refusalOf(what, ns, role string) string {
	return "you may not " + what + " in namespace " + ns + ": this needs the " + role +
		" role (ask a supervisor of the namespace, someone with seatkeeper-supervisor, to bind it to you)"
}
