package portal

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/portal"
)

// The portal's pages in a real headless Chromium (Debian's chromium package; hack/chromium.sh
// installs it, and make test runs that). Each spec has a browser context of its own (its own
// cookies), and saves a screenshot of each page it visits into screenshotDir.

// screenshotDir is where the pages' screenshots go: PORTAL_SCREENSHOTS, else
// test/portal/screenshots (ignored by git).
func screenshotDir() string {
	if d := os.Getenv("PORTAL_SCREENSHOTS"); d != "" {
		return d
	}
	return "screenshots"
}

var browserCtx context.Context

// chromium finds the browser: CHROMIUM, else chromium or chromium-browser on PATH.
func chromium() string {
	GinkgoHelper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Fail("no Chromium found: install Debian's chromium package (./hack/chromium.sh does, and `make test` runs it), or set CHROMIUM")
	return ""
}

// startBrowser starts one headless Chromium for the specs that need it.
func startBrowser() {
	GinkgoHelper()
	if browserCtx != nil {
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium()),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	c, cancel := chromedp.NewContext(alloc)
	Expect(chromedp.Do(c, chromedp.Navigate("about:blank"))).To(Succeed(), "start Chromium")
	browserCtx = c
	DeferCleanup(func() { cancel(); cancelAlloc(); browserCtx = nil })
	Expect(os.MkdirAll(screenshotDir(), 0o755)).To(Succeed())
}

// tab is a page of a fresh browser context: cookies of its own, in the time zone given.
func newTab(zone string) context.Context {
	GinkgoHelper()
	tab, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	tab, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	DeferCleanup(func() { cancelTimeout(); cancel() })
	Expect(chromedp.Do(tab, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	}))).To(Succeed())
	return tab
}

// open goes to a page and waits until its script runs and follows the live feed.
func open(tab context.Context, url string) {
	GinkgoHelper()
	Expect(chromedp.Do(tab, chromedp.Navigate(url))).To(Succeed())
	settle(tab)
}

// settle waits for the page that the browser shows now to be loaded, its time zone set, and (on
// pages that follow changes) its live feed open.
func settle(tab context.Context) {
	GinkgoHelper()
	waitFor(tab, `document.readyState === "complete" && document.body.getAttribute("data-ready") === "1" &&
		(!document.body.hasAttribute("data-live") || ["open", "none"].includes(document.body.getAttribute("data-live-state")))`, "the page to load")
}

// waitFor waits until expr is true in the page; a navigation on the way is no failure.
func waitFor(tab context.Context, expr, what string) {
	GinkgoHelper()
	Eventually(func() bool {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	}).Should(BeTrue(), "waiting for "+what)
}

// click clicks and waits for the next page.
func click(tab context.Context, sel string) {
	GinkgoHelper()
	Expect(chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`window.__before = 1`))).To(Succeed())
	Expect(chromedp.Do(tab, chromedp.Click(chromedp.CSS(sel)))).To(Succeed(), sel)
	waitFor(tab, `window.__before === undefined`, "a new page after clicking "+sel)
	settle(tab)
}

// text is the text of the first element sel selects.
func text(tab context.Context, sel string) string {
	GinkgoHelper()
	t, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
	Expect(err).NotTo(HaveOccurred(), sel)
	return t
}

// count is how many elements sel selects.
func count(tab context.Context, sel string) int {
	GinkgoHelper()
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	Expect(err).NotTo(HaveOccurred())
	return n
}

// eventuallyText waits until the page (live, without a reload) shows want in sel.
func eventuallyText(tab context.Context, sel, want string) {
	GinkgoHelper()
	Eventually(func() string {
		t, _ := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel)))
		return t
	}).Should(ContainSubstring(want))
}

// screenshot saves the whole page as name.png.
func screenshot(tab context.Context, name string) {
	GinkgoHelper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(screenshotDir(), name+".png")
	Expect(os.WriteFile(path, png, 0o644)).To(Succeed())
	AddReportEntry("screenshot", path)
}

var _ = Describe("Portal pages in a browser", Label("portal", "browser"), func() {
	BeforeEach(startBrowser)

	It("takes a licences user through every page: toggle a seat, end a session, export CSV", func() {
		ns := account()
		order := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{GenerateName: "order-"}, Spec: v1.CustomerOrderSpec{
			Customer: ns, Items: []v1.OrderItem{{Product: "remote-support", Seats: 1, ConcurrentSessions: 1}},
			StartsAt: &metav1.Time{Time: time.Now().Add(-time.Hour)}, ExpiresAt: &metav1.Time{Time: time.Now().Add(5 * 24 * time.Hour)}}}
		Expect(k8s.Create(ctx, order)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, order) })
		Expect(k8s.Patch(ctx, &v1.LicensePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "remote-support"}},
			client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"expiresAt":%q,"sessionPolicy":{"idleTimeout":"30m","maxDuration":"8h"}}}`,
				time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339))))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getPool(g, ns, "remote-support").Status.Sessions.Limit).To(HaveValue(BeEquivalentTo(3)))
			g.Expect(getSession(g, ns, "s-dave").Status.Phase).To(Equal(v1.SessionActive))
		}).Should(Succeed())
		newSession(ns, "s-erin", "remote-support", "erin@acme.example", "")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s-erin").Status.Phase).To(Equal(v1.SessionWaiting)) }).Should(Succeed())

		p := memberOf(ns, "seatkeeper-licenses", "licences")
		grant("", "seatkeeper-reports", userSubject(p.name), canList(p.cfg, &v1.CustomerOrderList{}, ""))
		lp := startLocalPortal(p, ns)
		tab := newTab("Europe/Rome")

		By("the accounts")
		open(tab, lp.url)
		Expect(text(tab, "h1")).To(Equal("Customer accounts"))
		Expect(text(tab, "footer")).To(ContainSubstring("Europe/Rome"), "times in the browser's time zone")
		screenshot(tab, "accounts")

		By("the account's licences")
		click(tab, fmt.Sprintf(`a[href="/ns/%s/"]`, ns))
		Expect(text(tab, "table")).To(ContainSubstring("Remote support"))
		screenshot(tab, "pools")

		By("the licence page")
		click(tab, fmt.Sprintf(`a[href="/ns/%s/pools/remote-support"]`, ns))
		Expect(text(tab, "#shared-in-use")).To(Equal("3/3"))
		Expect(text(tab, "#seats-in-use")).To(HavePrefix("3/3"), "the order's seat went to carol")
		Expect(text(tab, "main")).To(ContainSubstring("expires on"), "the expiring-soon warning")
		Expect(text(tab, "#h-orders + table")).To(ContainSubstring(order.Name))
		Expect(count(tab, "svg.chart path.in-use")).To(Equal(1))
		Expect(count(tab, "svg.chart line.limit")).To(Equal(1))
		Expect(count(tab, "svg.chart path.wait")).To(BeNumerically(">=", 1), "dave and erin had to wait")
		screenshot(tab, "licence")
		click(tab, `nav.windows a[href="?window=1h"]`)
		current, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`nav.windows a[aria-current]`)))
		Expect(err).NotTo(HaveOccurred())
		Expect(current).To(Equal("last 1h"))
		Expect(count(tab, "svg.chart path.wait")).To(BeNumerically(">=", 1), "the waits of the last hour")

		By("the seats: toggle alice's off")
		click(tab, `nav a[href$="/seats"]`)
		Expect(count(tab, `button[role="switch"]`)).To(BeNumerically(">=", 3))
		click(tab, `tr[data-seat="alice"] button[role="switch"]`)
		Expect(text(tab, ".notice")).To(ContainSubstring("The seat is off"))
		Eventually(func(g Gomega) { g.Expect(getSeat(g, ns, "alice").Status.Phase).To(Equal(v1.SeatDisabled)) }).Should(Succeed())
		eventuallyText(tab, `tr[data-seat="alice"]`, "Disabled")
		screenshot(tab, "seats")

		By("the sessions: end bob's")
		click(tab, `nav a[href$="/sessions"]`)
		Expect(text(tab, "#queue")).To(ContainSubstring("erin@acme.example"))
		Expect(chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#sel-s-bob`)))).To(Succeed())
		screenshot(tab, "sessions")
		click(tab, "#end-button")
		Expect(text(tab, "h2")).To(Equal("End 1 sessions?"))
		screenshot(tab, "confirm-end")
		click(tab, "#confirm-button")
		Expect(text(tab, ".notice")).To(ContainSubstring("1 sessions ended"))
		eventuallyText(tab, "#active", "erin@acme.example") // the freed licence went to the next in line
		eventuallyText(tab, `#log tr[data-session="s-bob"]`, "Ended")

		By("the CSV export of every row")
		dir := GinkgoT().TempDir()
		bctx := chromedp.FromContext(tab).BrowserContextID
		Expect(chromedp.Do(tab, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: bctx, DownloadPath: dir, EventsEnabled: ptr.To(true)})
			return err
		}))).To(Succeed())
		Expect(chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#x-format"), "iso"), chromedp.Click(chromedp.CSS("#export-all")))).To(Succeed())
		var file string
		Eventually(func() []string {
			files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
			if len(files) > 0 {
				file = files[0]
			}
			return files
		}).Should(HaveLen(1))
		f, err := os.Open(file)
		Expect(err).NotTo(HaveOccurred())
		records, err := csv.NewReader(f).ReadAll()
		Expect(f.Close()).To(Succeed())
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Join(records[0], ",")).To(Equal(sessionsCSVHeader))
		Expect(records).To(HaveLen(5), "alice, bob, dave, erin")
		for _, r := range records[1:] {
			if r[1] == "s-bob" {
				Expect(r[6]).To(Equal("Ended"))
				Expect(r[11]).To(Equal("Terminated"))
				Expect(r[8]).To(MatchRegexp(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`), "the date format chosen")
			}
		}
	})

	It("shows a reports user no button, and the role message when they open the orders", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-reports", "reports")
		lp := startLocalPortal(p, ns)
		tab := newTab("UTC")
		// As `kubectl licenses portal --open` does: the browser starts from a local file, and
		// the portal's cookie (SameSite=Strict) must still take.
		launcher, remove, err := portal.LaunchPage(lp.url)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(remove)
		open(tab, launcher)
		Expect(text(tab, "h1")).To(Equal("Customer accounts"))
		open(tab, lp.base+"/ns/"+ns+"/sessions")
		Expect(text(tab, "#active")).To(ContainSubstring("bob@acme.example"))
		Expect(count(tab, "#end-button")).To(Equal(0))
		Expect(count(tab, `input[type="checkbox"]`)).To(Equal(0))
		screenshot(tab, "reports-sessions")
		open(tab, lp.base+"/ns/"+ns+"/seats")
		Expect(count(tab, `button`)).To(Equal(2), "only the filter and the preferences")
		open(tab, lp.base+"/orders")
		Expect(text(tab, ".refusal")).To(ContainSubstring("this needs the seatkeeper-partner role"))
		screenshot(tab, "reports-orders")
	})

	It("lets a partner assign an order and see the pool grow", func() {
		ns := newNamespace()
		newPool(ns, "remote-support", ptr.To[int32](2), ptr.To[int32](1))
		p := newPerson("partner")
		grant("", "seatkeeper-partner", userSubject(p.name), canList(p.cfg, &v1.CustomerOrderList{}, ""))
		order := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{GenerateName: "order-"},
			Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 10, ConcurrentSessions: 4}}}}
		Expect(k8s.Create(ctx, order)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, order) })
		lp := startLocalPortal(p, "")
		tab := newTab("UTC")
		open(tab, lp.url)
		open(tab, lp.base+"/orders")
		row := fmt.Sprintf(`tr[data-order=%q]`, order.Name)
		Expect(text(tab, row)).To(ContainSubstring("not assigned"))
		screenshot(tab, "orders")
		Expect(chromedp.Do(tab, chromedp.SetValue(chromedp.CSS(row+" select"), ns))).To(Succeed())
		click(tab, row+` form.assign button`)
		Expect(text(tab, ".notice")).To(ContainSubstring("assigned"))
		eventuallyText(tab, row, "active")
		open(tab, lp.base+"/ns/"+ns+"/pools/remote-support")
		Expect(text(tab, "#seats-in-use")).To(Equal("0/12"))
		Expect(text(tab, "#shared-in-use")).To(Equal("0/5"))
		screenshot(tab, "partner-licence")
	})

	It("updates a page by itself when a session is granted elsewhere", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-licenses", "licences")
		lp := startLocalPortal(p, ns)
		tab := newTab("UTC")
		open(tab, lp.url)
		open(tab, lp.base+"/ns/"+ns+"/sessions")
		Expect(chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`window.__samePage = true`))).To(Succeed())
		Expect(text(tab, "#queue")).To(ContainSubstring("dave@acme.example"))
		released := time.Now()
		Expect(k8s.Delete(ctx, &v1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s-alice"}})).To(Succeed())
		eventuallyText(tab, "#active", "dave@acme.example")
		// A figure, not an assertion (timings on shared machines are noisy): release → the page
		// shows the next holder, through the operator's grant, the watch and the refresh.
		AddReportEntry("live update", fmt.Sprintf("release → page shows the new holder: %v", time.Since(released).Round(time.Millisecond)))
		samePage, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.__samePage === true`))
		Expect(err).NotTo(HaveOccurred())
		Expect(samePage).To(BeTrue(), "the page changed without a reload")
		Expect(text(tab, "#h-queue")).To(Equal("Waiting (0)"))
	})

	It("speaks French when chosen, and Italian from the browser's language", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-licenses", "licences")
		Expect(k8s.Patch(ctx, &v1.SeatAssignment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carol"}},
			client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"enabled":false}}`)))).To(Succeed())
		lp := startLocalPortal(p, ns)

		tab := newTab("Europe/Paris")
		open(tab, lp.url)
		open(tab, lp.base+"/ns/"+ns+"/seats")
		Expect(chromedp.Do(tab, chromedp.SetValue(chromedp.CSS("#pref-lang"), "fr"))).To(Succeed())
		click(tab, "form.prefs button")
		lang, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.documentElement.lang`))
		Expect(err).NotTo(HaveOccurred())
		Expect(lang).To(Equal("fr"))
		Eventually(func() string { return text(tab, `tr[data-seat="carol"]`) }).Should(ContainSubstring("licences non disponibles"))
		screenshot(tab, "seats-fr")
		open(tab, lp.base+"/ns/"+ns+"/sessions")
		screenshot(tab, "sessions-fr")

		it := newTab("Europe/Rome")
		Expect(chromedp.Do(it, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "it-IT,it;q=0.9"}})
			return err
		}))).To(Succeed())
		open(it, lp.url)
		open(it, lp.base+"/ns/"+ns+"/seats")
		lang, err = chromedp.Run(it, chromedp.Evaluate[string](`document.documentElement.lang`))
		Expect(err).NotTo(HaveOccurred())
		Expect(lang).To(Equal("it"))
		Expect(text(it, `tr[data-seat="carol"]`)).To(ContainSubstring("licenze non disponibili"))
		screenshot(it, "seats-it")
		open(it, lp.base+"/ns/"+ns+"/pools/remote-support")
		screenshot(it, "licence-it")
	})
})
