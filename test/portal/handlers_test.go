package portal

import (
	"encoding/csv"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/portal"
)

var _ = Describe("Local portal", Label("portal"), func() {
	var ns string
	var lp localPortal
	BeforeEach(func() {
		ns = account()
		p := memberOf(ns, "seatkeeper-licenses", "licences")
		lp = startLocalPortal(p, ns)
	})

	It("opens only from the printed address, and keeps its secret in a strict cookie", func() {
		stranger := newVisitor(lp.base)
		a := stranger.get("/")
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.body).To(ContainSubstring("kubectl licenses portal"))
		Expect(stranger.get("/?token=not-the-secret").status).To(Equal(http.StatusUnauthorized))
		Expect(stranger.get("/ns/" + ns + "/sessions").status).To(Equal(http.StatusUnauthorized))

		resp, err := newVisitor(lp.base).c.Get(lp.url)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Body.Close()).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(resp.Header.Get("Location")).To(BeEmpty(), "no redirect: the browser would not send the Strict cookie on it")
		cookie := resp.Header.Get("Set-Cookie")
		Expect(cookie).To(ContainSubstring("HttpOnly"))
		Expect(cookie).To(ContainSubstring("SameSite=Strict"))

		v := openLocal(lp)
		a = v.get("/")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring(ns))
		Expect(a.header.Get("Content-Security-Policy")).To(ContainSubstring("frame-ancestors 'none'"))
		Expect(a.header.Get("Referrer-Policy")).To(Equal("no-referrer"))
	})

	It("answers only under its loopback name and port (no DNS rebinding)", func() {
		v := openLocal(lp)
		for _, host := range []string{"evil.example:" + itoa(lp.port), "127.0.0.1:1", "attacker.example"} {
			req, err := http.NewRequest(http.MethodGet, lp.base+"/ns/"+ns+"/sessions", nil)
			Expect(err).NotTo(HaveOccurred())
			req.Host = host
			a := v.do(req)
			Expect(a.status).To(Equal(http.StatusMisdirectedRequest), host)
			Expect(a.body).NotTo(ContainSubstring("bob@acme.example"), host)
		}
		Expect(v.get("/ns/" + ns + "/sessions").status).To(Equal(http.StatusOK))
		req, err := http.NewRequest(http.MethodGet, "http://localhost:"+itoa(lp.port)+"/", nil)
		Expect(err).NotTo(HaveOccurred())
		req.AddCookie(&http.Cookie{Name: "seatkeeper-portal-" + itoa(lp.port), Value: secretOf(lp)})
		Expect(v.do(req).status).To(Equal(http.StatusOK), "localhost is the loopback address too")
	})

	It("refuses a change without its CSRF token or from another site", func() {
		v := openLocal(lp)
		Expect(v.get("/ns/" + ns + "/seats").status).To(Equal(http.StatusOK))
		toggle := "/ns/" + ns + "/seats/alice/enabled"

		a := v.post(toggle, url.Values{"enabled": {"false"}, "csrf": {"forged"}})
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring("security token"))

		v.header.Set("Origin", "http://evil.example")
		Expect(v.post(toggle, url.Values{"enabled": {"false"}}).status).To(Equal(http.StatusForbidden))
		v.header.Del("Origin")
		v.header.Set("Sec-Fetch-Site", "cross-site")
		Expect(v.post(toggle, url.Values{"enabled": {"false"}}).status).To(Equal(http.StatusForbidden))
		v.header.Del("Sec-Fetch-Site")
		Consistently(func(g Gomega) { g.Expect(getSeat(g, ns, "alice").Spec.Enabled).To(HaveValue(BeTrue())) }, "300ms").Should(Succeed())

		v.header.Set("Origin", lp.base)
		a = v.post(toggle, url.Values{"enabled": {"false"}})
		Expect(a.status).To(Equal(http.StatusSeeOther))
		Expect(getSeat(Default, ns, "alice").Spec.Enabled).To(HaveValue(BeFalse()))
	})
})

var _ = Describe("Privilege levels in the portal", Label("portal", "rbac"), func() {
	It("lets a licences user toggle seats, add one and end sessions", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-licenses", "licences")
		v := openLocal(startLocalPortal(p, ns))

		a := v.get("/ns/" + ns + "/seats")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring(`role="switch"`))
		Expect(a.body).NotTo(ContainSubstring(`id="why-alice"`), "alice's seat may be switched")
		Expect(v.post("/ns/"+ns+"/seats/alice/enabled", url.Values{"enabled": {"false"}}).status).To(Equal(http.StatusSeeOther))
		Eventually(func(g Gomega) { g.Expect(getSeat(g, ns, "carol").Status.Phase).To(Equal(v1.SeatBound)) }).Should(Succeed())
		Eventually(func() string { return v.get("/ns/" + ns + "/seats").body }).Should(ContainSubstring(`<span class="hint" id="why-alice">licences not available</span>`),
			"alice's seat cannot be turned on again: carol took the free seat")

		a = v.post("/ns/"+ns+"/seats/alice/enabled", url.Values{"enabled": {"true"}})
		Expect(a.status).To(Equal(http.StatusConflict), "no seat free: the toggle is refused")
		Expect(a.body).To(ContainSubstring("Licences not available"))

		a = v.post("/ns/"+ns+"/seats", url.Values{"assignee": {"Erin.Lee@acme.example"}, "kind": {"User"}, "pool": {"remote-support"}})
		Expect(a.status).To(Equal(http.StatusSeeOther))
		var seats v1.SeatAssignmentList
		Expect(k8s.List(ctx, &seats, client.InNamespace(ns))).To(Succeed())
		Expect(seats.Items).To(ContainElement(HaveField("Spec.Assignee.Name", "Erin.Lee@acme.example")))

		a = v.get("/ns/" + ns + "/sessions")
		Expect(a.body).To(ContainSubstring(`id="end-button"`))
		a = v.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}})
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("End 1 sessions?"), "a confirmation comes first")
		Expect(getSession(Default, ns, "s-bob").Spec.Terminate).To(BeFalse())
		a = v.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}, "confirm": {"yes"}})
		Expect(a.status).To(Equal(http.StatusSeeOther))
		Eventually(func(g Gomega) {
			s := getSession(g, ns, "s-bob")
			g.Expect(s.Status.Phase).To(Equal(v1.SessionEnded))
			g.Expect(s.Status.EndReason).To(Equal(v1.EndTerminated))
			g.Expect(getSession(g, ns, "s-dave").Status.Phase).To(Equal(v1.SessionActive), "the freed licence goes to the next in line")
		}).Should(Succeed())
	})

	It("shows a reports user everything and no button, and words the API server's 403 as the role to ask for", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-reports", "reports")
		v := openLocal(startLocalPortal(p, ns))

		a := v.get("/ns/" + ns + "/sessions")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("bob@acme.example"))
		Expect(a.body).NotTo(ContainSubstring(`id="end-button"`))
		Expect(a.body).NotTo(ContainSubstring(`type="checkbox"`))
		a = v.get("/ns/" + ns + "/seats")
		Expect(a.body).To(ContainSubstring("alice@acme.example"))
		Expect(a.body).NotTo(ContainSubstring(`role="switch"`))
		Expect(a.body).NotTo(ContainSubstring(`id="h-add"`))

		// Forged requests go to the API server, which refuses them.
		a = v.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}, "confirm": {"yes"}})
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring(refusalOf("end sessions", ns, "seatkeeper-licenses")))
		a = v.post("/ns/"+ns+"/seats/alice/enabled", url.Values{"enabled": {"false"}})
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring(refusalOf("change seats", ns, "seatkeeper-licenses")))
		Consistently(func(g Gomega) {
			g.Expect(getSession(g, ns, "s-bob").Spec.Terminate).To(BeFalse())
			g.Expect(getSeat(g, ns, "alice").Spec.Enabled).To(HaveValue(BeTrue()))
		}, "300ms").Should(Succeed())

		a = v.get("/orders")
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring("you may not read orders: this needs the seatkeeper-partner role for the whole cluster"))
	})

	It("tells someone without a role which one to ask for, and offers a namespace box", func() {
		ns := account()
		v := openLocal(startLocalPortal(newPerson("nobody"), ns))
		a := v.get("/")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring(`id="account-ns"`))
		Expect(a.body).To(ContainSubstring(`value="`+ns+`"`), "the kubeconfig's namespace is proposed")
		a = v.get("/account?ns=" + ns)
		Expect(a.status).To(Equal(http.StatusSeeOther))
		Expect(a.location).To(Equal("/ns/" + ns + "/"))
		a = v.get("/ns/" + ns + "/")
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring(refusalOf("read licence pools", ns, "seatkeeper-reports")))
		a = v.get("/ns/" + ns + "/sessions")
		Expect(a.body).To(ContainSubstring(refusalOf("read sessions", ns, "seatkeeper-reports")))
	})

	It("finds the accounts of a viewer who may list namespaces, and asks one who may not", func() {
		ns := account()
		scoped := memberOf(ns, "seatkeeper-licenses", "licences")
		a := openLocal(startLocalPortal(scoped, ns)).get("/")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("You may not list the accounts of this cluster"))
		Expect(a.body).To(ContainSubstring(`value="` + ns + `"`))

		lister := memberOf(ns, "seatkeeper-reports", "lister")
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "list-namespaces-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list"}}}}
		Expect(k8s.Create(ctx, role)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, role) })
		grant("", role.Name, userSubject(lister.name), canList(lister.cfg, &corev1.NamespaceList{}, ""))
		a = openLocal(startLocalPortal(lister, "")).get("/")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring(`href="/ns/`+ns+`/"`), "an account where the viewer may list pools")
		Expect(a.body).NotTo(ContainSubstring("You may not list the accounts"))
	})

	It("shows an agent no End session: it may end only its own sessions", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-agent", "agent")
		a := openLocal(startLocalPortal(p, ns)).get("/ns/" + ns + "/sessions")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("bob@acme.example"))
		Expect(a.body).NotTo(ContainSubstring(`id="end-button"`))
	})

	It("answers an address that names no account with 404", func() {
		ns := account()
		v := openLocal(startLocalPortal(newPerson("nobody"), ns))
		for _, path := range []string{"/ns/Not_A_Namespace/sessions", "/ns/a.b/seats", "/ns/x%20y/"} {
			Expect(v.get(path).status).To(Equal(http.StatusNotFound), path)
		}
		a := v.get("/account?ns=Not_A_Namespace")
		Expect(a.status).To(Equal(http.StatusBadRequest))
		Expect(a.body).To(ContainSubstring(`"Not_A_Namespace" is not an account name`))
	})

	It("lets a partner assign an order to a customer account and cancel one", func() {
		ns := newNamespace()
		p := newPerson("partner")
		grant("", "seatkeeper-partner", userSubject(p.name), canList(p.cfg, &v1.CustomerOrderList{}, ""))
		order := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{GenerateName: "order-"},
			Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 5, ConcurrentSessions: 3}}}}
		Expect(k8s.Create(ctx, order)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, order) })
		v := openLocal(startLocalPortal(p, ""))

		a := v.get("/orders")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring(order.Name))
		Expect(a.body).To(ContainSubstring(`<option value="`+ns+`">`), "the accounts to choose from")
		a = v.post("/orders/"+order.Name+"/assign", url.Values{"customer": {ns}})
		Expect(a.status).To(Equal(http.StatusSeeOther))
		Eventually(func(g Gomega) {
			g.Expect(getPool(g, ns, "remote-support").Status.Seats.Limit).To(HaveValue(BeEquivalentTo(5)))
		}).Should(Succeed())

		a = v.post("/orders/"+order.Name+"/cancel", url.Values{})
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("Cancel order " + order.Name + "?"))
		Expect(v.post("/orders/"+order.Name+"/cancel", url.Values{"confirm": {"yes"}}).status).To(Equal(http.StatusSeeOther))
		Eventually(func(g Gomega) {
			o := &v1.CustomerOrder{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(order), o)).To(Succeed())
			g.Expect(o.Status.Phase).To(Equal(v1.OrderCancelled))
		}).Should(Succeed())
	})

	It("exports the session log as the plugin's CSV, in the date format and time zone asked for", func() {
		ns := account()
		p := memberOf(ns, "seatkeeper-reports", "reports")
		v := openLocal(startLocalPortal(p, ns))

		a := v.get("/ns/" + ns + "/sessions.csv?scope=all&format=european&tz=Europe/Paris")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.header.Get("Content-Type")).To(HavePrefix("text/csv"))
		Expect(a.header.Get("Content-Disposition")).To(HavePrefix("attachment"))
		records, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Join(records[0], ",")).To(Equal(sessionsCSVHeader))
		Expect(records).To(HaveLen(4))
		s := getSession(Default, ns, "s-alice")
		paris, err := time.LoadLocation("Europe/Paris")
		Expect(err).NotTo(HaveOccurred())
		want := s.Status.GrantedAt.Truncate(time.Second).In(paris).Format("02/01/2006 15:04:05")
		Expect(records).To(ContainElement(ContainElements("s-alice", want)))

		a = v.get("/ns/" + ns + "/sessions.csv?scope=shown&phase=Waiting")
		records, err = csv.NewReader(strings.NewReader(a.body)).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(records).To(HaveLen(2))
		Expect(records[1][1]).To(Equal("s-dave"))
	})
})

// sessionsCSVHeader is `kubectl licenses sessions -o csv`'s header (cmd/kubectl-licenses).
const sessionsCSVHeader = "namespace,name,pool,holder,peer,state,phase,start,end,durationSeconds,duration,reason,queuePosition,message,licences,priority,notice,endsAt,preemptedBy,overdraft"

var _ = Describe("In-cluster portal", Label("portal", "rbac"), func() {
	var base string
	BeforeEach(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		srv, err := portal.New(portal.Options{Auth: portal.NewBearer(rest.AnonymousClientConfig(cfg)), Log: logf.Log.WithName("portal")})
		Expect(err).NotTo(HaveOccurred())
		serve(ln, srv)
		base = "http://" + ln.Addr().String()
	})

	It("asks to sign in without a token, and says when the API server does not accept one", func() {
		a := newVisitor(base).get("/")
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.body).To(ContainSubstring("You are not signed in"))
		v := newVisitor(base)
		v.header.Set("Authorization", "Bearer not-a-token")
		a = v.get("/ns/default/sessions")
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.body).To(ContainSubstring("did not accept your credentials"))
	})

	It("acts with each user's own service-account token", func() {
		ns := account()
		reports := tokenFor(ns, "reports", "seatkeeper-reports")
		licences := tokenFor(ns, "licences", "seatkeeper-licenses")
		nobody := tokenFor(ns, "nobody", "")

		r := newVisitor(base)
		r.header.Set("Authorization", "Bearer "+reports)
		a := r.get("/ns/" + ns + "/sessions")
		Expect(a.status).To(Equal(http.StatusOK))
		Expect(a.body).To(ContainSubstring("bob@acme.example"))
		Expect(a.body).NotTo(ContainSubstring(`id="end-button"`))
		a = r.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}, "confirm": {"yes"}})
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring(refusalOf("end sessions", ns, "seatkeeper-licenses")))

		n := newVisitor(base)
		n.header.Set("Authorization", "Bearer "+nobody)
		a = n.get("/ns/" + ns + "/sessions")
		Expect(a.status).To(Equal(http.StatusForbidden))
		Expect(a.body).To(ContainSubstring(refusalOf("read sessions", ns, "seatkeeper-reports")))
		Expect(a.body).NotTo(ContainSubstring("bob@acme.example"))

		l := newVisitor(base)
		l.header.Set("Authorization", "Bearer "+licences)
		a = l.get("/ns/" + ns + "/sessions")
		Expect(a.body).To(ContainSubstring(`id="end-button"`))
		// A token of another user does not carry this one's CSRF token.
		Expect(l.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}, "confirm": {"yes"}, "csrf": {r.csrf}}).status).
			To(Equal(http.StatusForbidden))
		Expect(l.post("/ns/"+ns+"/sessions/end", url.Values{"session": {"s-bob"}, "confirm": {"yes"}}).status).To(Equal(http.StatusSeeOther))
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s-bob").Status.EndReason).To(Equal(v1.EndTerminated)) }).Should(Succeed())
	})
})

// tokenFor creates a service account bound to role in ns ("" for none) and returns a token of it.
func tokenFor(ns, name, role string) string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(k8s.Create(ctx, sa)).To(Succeed())
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(k8s.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	token := tr.Status.Token
	Expect(token).NotTo(BeEmpty())
	if role != "" {
		subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
		tc := rest.AnonymousClientConfig(cfg)
		tc.BearerToken = token
		grant(ns, role, subject, canList(tc, &v1.SharedSessionList{}, ns))
	}
	return token
}
