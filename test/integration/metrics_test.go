package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// scrape reads the operator's metrics the way Prometheus does: the manager's endpoint serves
// controller-runtime's registry with this same handler.
func scrape(g Gomega, srv *httptest.Server) string {
	resp, err := http.Get(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return string(body)
}

var _ = Describe("Metrics", Label("metrics"), func() {
	It("reports capacity, use, queue, waits, ends and denials per pool", func() {
		srv := httptest.NewServer(promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
		DeferCleanup(srv.Close)
		ns := newNamespace()
		newPool(ns, "p", int32p(1), int32p(1), func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.WhenExhausted = v1.WhenExhaustedReject
		})
		newSeat(ns, "a", "p", "alice", v1.AssigneeUser)
		newSeat(ns, "b", "p", "bob", v1.AssigneeUser)
		newSession(ns, "s1", "p", "alice")
		waitActive(ns, "s1")
		newSession(ns, "s2", "p", "bob")
		waitEnded(ns, "s2", v1.EndRejected)
		lbl := fmt.Sprintf(`namespace=%q,pool="p"`, ns)
		Eventually(func(g Gomega) {
			body := scrape(g, srv)
			for _, want := range []string{
				fmt.Sprintf("seatkeeper_pool_seats_limit{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_seats_bound{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_seats_pending{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_sessions_limit{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_sessions_active{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_sessions_idle{%s} 1", lbl),
				fmt.Sprintf("seatkeeper_pool_sessions_waiting{%s} 0", lbl),
				fmt.Sprintf("seatkeeper_session_wait_seconds_count{%s} 1", lbl),
				fmt.Sprintf(`seatkeeper_session_ends_total{%s,reason="Rejected"} 1`, lbl),
				fmt.Sprintf(`seatkeeper_denials_total{%s,reason="Rejected"} 1`, lbl),
				fmt.Sprintf(`seatkeeper_denials_total{%s,reason="LicensesNotAvailable"} 1`, lbl),
				`controller_runtime_reconcile_time_seconds_count{controller="licensepool"}`,
			} {
				g.Expect(body).To(ContainSubstring(want))
			}
			g.Expect(strings.Contains(body, fmt.Sprintf("seatkeeper_pool_expiry_timestamp_seconds{%s}", lbl))).To(BeFalse())
		}).Should(Succeed())
	})
})
