package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/prometheus/promql/parser"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The GitOps specs check what Argo CD, Flux and Prometheus see of seatkeeper: kstatus, the Argo
// CD health scripts of config/argocd and the Flux healthCheckExprs of docs/gitops.md on real
// objects; the kustomizations under config/ rendered with kustomize's Go API and applied by
// server-side dry run; and the PromQL of the Grafana dashboard and the alerts.

// healthCase is one object in a known state and the health that GitOps tools should see.
type healthCase struct {
	kind, namespace, name string
	kstatus               status.Status // kstatus: Flux's wait, kubectl-style waiters
	flux                  status.Status // Flux with the healthCheckExprs of docs/gitops.md
	argo                  string        // Argo CD health status
	message               string        // part of the Argo CD health message
}

func (c healthCase) String() string {
	if c.namespace == "" {
		return c.kind + " " + c.name
	}
	return c.kind + " " + c.namespace + "/" + c.name
}

// healthResult is what the tools computed for one object.
type healthResult struct {
	state      string // the object's phase and reason, for the report
	kstatus    status.Status
	kstatusMsg string
	flux       status.Status
	fluxErr    error
	argo       string
	argoMsg    string
}

var _ = Describe("GitOps health", Label("gitops"), func() {
	It("gives kstatus, the Flux health expressions and the Argo CD health checks the state of every kind", func() {
		scripts := argoHealthScripts()
		fluxChecks := fluxHealthChecks()
		ns := newNamespace()
		missing := ns + "-missing" // a customer namespace that never exists

		newPool(ns, "gold", int32p(1), int32p(1))
		newPool(ns, "strict", nil, int32p(0), func(p *v1.LicensePool) { p.Spec.SessionPolicy.WhenExhausted = v1.WhenExhaustedReject })
		newPool(ns, "old", nil, nil, func(p *v1.LicensePool) { p.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(-time.Hour)} })
		newPool(ns, "renewal", nil, nil, func(p *v1.LicensePool) { p.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(24 * time.Hour)} })
		newPool(ns, "external", int32p(5), nil, func(p *v1.LicensePool) { p.Spec.ManagedBy = "billing.example.com/sync" })
		newPool(ns, "quick", nil, nil, func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = &metav1.Duration{Duration: 5 * time.Second}
		})
		// A pool with every policy, so that the dashboard's group and overdraft series exist.
		newPool(ns, "teams", int32p(2), int32p(2), func(p *v1.LicensePool) {
			p.Spec.OverdraftSessions = int32p(1)
			p.Spec.Groups = []v1.HolderGroup{{Name: "cfd", Members: []string{"sim-*"}, ReservedSessions: int32p(1),
				MaxSessions: int32p(2), MaxSeats: int32p(1)}}
		})

		// alice binds gold's only seat before the others ask, so bob waits for it.
		newSeat(ns, "alice", "gold", "alice@example.com", v1.AssigneeUser)
		Eventually(func(g Gomega) { g.Expect(getSeat(g, ns, "alice").Status.Phase).To(Equal(v1.SeatBound)) }).Should(Succeed())
		newSeat(ns, "bob", "gold", "bob@example.com", v1.AssigneeUser)
		newSeat(ns, "alice-again", "gold", "alice@example.com", v1.AssigneeUser)
		carol := &v1.SeatAssignment{
			ObjectMeta: objMeta(ns, "carol"),
			Spec: v1.SeatAssignmentSpec{PoolName: "gold", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "carol@example.com"},
				Enabled: ptr.To(false)},
		}
		Expect(k8s.Create(ctx, carol)).To(Succeed())
		newSeat(ns, "dave", "nowhere", "dave@example.com", v1.AssigneeUser)
		newSeat(ns, "erin", "external", "erin@example.com", v1.AssigneeUser)
		newSeat(ns, "frank", "old", "frank@example.com", v1.AssigneeUser)

		// agent-1 takes gold's only shared licence before agent-2 asks, so agent-2 waits.
		newSession(ns, "agent-1", "gold", "agent-1")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "agent-1").Status.Phase).To(Equal(v1.SessionActive)) }).Should(Succeed())
		newSession(ns, "agent-2", "gold", "agent-2")
		newSession(ns, "released", "gold", "agent-3", func(s *v1.SharedSession) { s.Spec.Terminate = true })
		newSession(ns, "turned-away", "strict", "agent-4")
		newSession(ns, "silent", "quick", "agent-5") // never heartbeats: ends after 5s

		item := func(product, pool string) v1.OrderItem {
			return v1.OrderItem{Product: product, PoolName: pool, Seats: 2, ConcurrentSessions: 1}
		}
		active := newOrder(ns, nil, item("remote-support", "ordered"))
		invalid := newOrder(ns, nil, item("other-product", "gold"))
		unassigned := newOrder("", nil, item("remote-support", "later"))
		scheduled := newOrder(ns, func(o *v1.CustomerOrder) { o.Spec.StartsAt = &metav1.Time{Time: time.Now().Add(24 * time.Hour)} },
			item("remote-support", "later"))
		lost := newOrder(missing, nil, item("remote-support", "ordered"))
		cancelled := newOrder(ns, func(o *v1.CustomerOrder) { o.Spec.Cancelled = true }, item("remote-support", "lapsed"))
		expired := newOrder(ns, func(o *v1.CustomerOrder) {
			o.Spec.StartsAt = &metav1.Time{Time: time.Now().Add(-2 * time.Hour)}
			o.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(-time.Hour)}
		}, item("remote-support", "lapsed"))

		current, inProgress, failed := status.CurrentStatus, status.InProgressStatus, status.FailedStatus
		cases := []healthCase{
			{"LicensePool", ns, "gold", current, current, "Healthy", "1/1 seats bound, 1/1 shared licences in use, 1 waiting"},
			{"LicensePool", ns, "renewal", current, current, "Healthy", "0/∞ seats bound, 0/∞ shared licences in use, 0 waiting; the licence expires at "},
			{"LicensePool", ns, "external", current, current, "Healthy", "grants are decided by billing.example.com/sync"},
			{"LicensePool", ns, "old", inProgress, failed, "Degraded", "the licence expired at "},
			{"SeatAssignment", ns, "alice", current, current, "Healthy", "user alice@example.com holds a seat of pool gold"},
			{"SeatAssignment", ns, "carol", current, current, "Healthy", "Disabled (spec.enabled: false): "},
			{"SeatAssignment", ns, "bob", inProgress, inProgress, "Progressing", "no seat free in pool gold (1/1 bound)"},
			{"SeatAssignment", ns, "dave", inProgress, inProgress, "Progressing", "pool nowhere does not exist in this namespace"},
			{"SeatAssignment", ns, "erin", inProgress, inProgress, "Progressing", "pool external is managed by billing.example.com/sync"},
			{"SeatAssignment", ns, "alice-again", inProgress, failed, "Degraded", "already has seat alice in pool gold"},
			{"SeatAssignment", ns, "frank", inProgress, failed, "Degraded", "pool old expired at "},
			{"SharedSession", ns, "agent-1", current, current, "Healthy", "agent-1 holds a shared licence of pool gold"},
			{"SharedSession", ns, "agent-2", inProgress, inProgress, "Progressing", "waiting at position 1 of 1"},
			{"SharedSession", ns, "released", inProgress, current, "Healthy", "Ended (Terminated): ended on request (spec.terminate: true)"},
			{"SharedSession", ns, "turned-away", inProgress, failed, "Degraded", "Ended (Rejected): "},
			{"SharedSession", ns, "silent", inProgress, failed, "Degraded", "Ended (HeartbeatExpired): no heartbeat since "},
			{"CustomerOrder", "", active.Name, current, current, "Healthy", "adds 2 seats and 1 shared licences to pool ordered in namespace " + ns},
			{"CustomerOrder", "", unassigned.Name, current, current, "Healthy", "Unassigned: the order is not assigned to a customer yet"},
			{"CustomerOrder", "", scheduled.Name, current, current, "Healthy", "Scheduled: the order's term starts at "},
			{"CustomerOrder", "", cancelled.Name, current, current, "Healthy", "Cancelled: the order was cancelled"},
			{"CustomerOrder", "", expired.Name, current, current, "Healthy", "Expired: the order's term ended at "},
			{"CustomerOrder", "", invalid.Name, inProgress, failed, "Degraded", "pool gold in namespace " + ns + " licenses product remote-support, but the order's item is for product other-product"},
			{"CustomerOrder", "", lost.Name, inProgress, inProgress, "Progressing", "namespace " + missing + " does not exist"},
		}

		results := make([]healthResult, len(cases))
		Eventually(func(g Gomega) {
			for i, c := range cases {
				u := getUnstructured(g, c.kind, c.namespace, c.name)
				r := evaluateHealth(g, scripts, fluxChecks, u)
				results[i] = r
				g.Expect(r.kstatus).To(Equal(c.kstatus), "kstatus of %s (%s): %s", c, r.state, r.kstatusMsg)
				g.Expect(r.fluxErr).NotTo(HaveOccurred(), "Flux health of %s (%s)", c, r.state)
				g.Expect(r.flux).To(Equal(c.flux), "Flux health of %s (%s)", c, r.state)
				g.Expect(r.argo).To(Equal(c.argo), "Argo CD health of %s (%s): %s", c, r.state, r.argoMsg)
				g.Expect(r.argoMsg).To(ContainSubstring(c.message), "Argo CD health message of %s", c)
			}
		}).Should(Succeed())

		var report strings.Builder
		fmt.Fprintf(&report, "%-30s %-30s %-11s %-11s %-12s %s\n", "object", "phase/reason", "kstatus", "Flux exprs", "Argo CD", "Argo CD message | kstatus message")
		for i, c := range cases {
			r := results[i]
			fmt.Fprintf(&report, "%-30s %-30s %-11s %-11s %-12s %s | %s\n", c.kind+" "+c.name, r.state, r.kstatus, r.flux, r.argo, r.argoMsg, r.kstatusMsg)
		}
		AddReportEntry("kstatus, Flux and Argo CD health", report.String())

		By("a spec the operator has not observed yet, and an object it has not reconciled at all")
		for _, c := range cases {
			u := getUnstructured(Default, c.kind, c.namespace, c.name)
			newer := u.DeepCopy()
			newer.SetGeneration(u.GetGeneration() + 1)
			r := evaluateHealth(Default, scripts, fluxChecks, newer)
			Expect(r.kstatus).To(Equal(status.InProgressStatus), "kstatus of %s at a newer generation: %s", c, r.kstatusMsg)
			Expect(r.fluxErr).NotTo(HaveOccurred())
			Expect(r.flux).To(Equal(status.InProgressStatus), "Flux health of %s at a newer generation", c)
			Expect(r.argo).To(Equal("Progressing"), "Argo CD health of %s at a newer generation: %s", c, r.argoMsg)

			// Without a status kstatus cannot know that seatkeeper will write one, and calls the
			// object Current (docs/gitops.md says so). The Flux expressions cannot be evaluated
			// (Flux reports Unknown and keeps polling) and the Argo CD scripts wait.
			bare := u.DeepCopy()
			unstructured.RemoveNestedField(bare.Object, "status")
			r = evaluateHealth(Default, scripts, fluxChecks, bare)
			Expect(r.kstatus).To(Equal(status.CurrentStatus), "kstatus of %s without status: %s", c, r.kstatusMsg)
			Expect(r.fluxErr).To(HaveOccurred(), "Flux health of %s without status", c)
			Expect(r.argo).To(Equal("Progressing"), "Argo CD health of %s without status: %s", c, r.argoMsg)
		}

		By("the metrics that the dashboard and the alerts query are exported by the operator")
		used := map[string]bool{}
		for _, expr := range append(dashboardExprs(), alertExprs()...) {
			for _, name := range metricNames(Default, expr) {
				used[familyName(name)] = true
			}
		}
		Eventually(func(g Gomega) {
			families, err := ctrlmetrics.Registry.Gather()
			g.Expect(err).NotTo(HaveOccurred())
			exported := map[string]bool{}
			for _, f := range families {
				exported[f.GetName()] = true
			}
			for name := range used {
				g.Expect(exported).To(HaveKey(name), "the dashboard or an alert queries %s", name)
			}
		}).Should(Succeed())
	})

	It("renders config/default and applies it by server-side dry run without a conflict or warning", func() {
		objs := render("default")
		kinds := map[string]int{}
		for _, u := range objs {
			kinds[u.GetKind()]++
		}
		Expect(kinds).To(HaveKeyWithValue("CustomResourceDefinition", 6))
		Expect(kinds).To(HaveKeyWithValue("Namespace", 1))
		Expect(kinds).To(HaveKeyWithValue("Deployment", 1))
		Expect(kinds).To(HaveKeyWithValue("Service", 1))
		Expect(kinds).To(HaveKey("ServiceAccount"))
		Expect(kinds).To(HaveKey("ClusterRole"))
		Expect(kinds).To(HaveKey("ClusterRoleBinding"))
		for _, u := range objs {
			mapping, err := k8s.RESTMapper().RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
			Expect(err).NotTo(HaveOccurred())
			if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				Expect(u.GetNamespace()).To(Equal("seatkeeper-system"), "%s %s", u.GetKind(), u.GetName())
			}
		}

		// The operator's namespace exists for real (with its Pod Security labels, so that the
		// Deployment is checked against "restricted"); everything else, the namespace and the
		// CRDs the suite installed included, is applied by dry run. envtest has no namespace
		// controller, so the namespace is left in place rather than stuck Terminating.
		applier, warnings := warningClient()
		applyAll(applier, namespaces(objs), false)
		applyAll(applier, objs, true)
		Expect(warnings.list()).To(BeEmpty(), "the API server warned while applying config/default")
	})

	It("renders config/portal: a portal with no rights and no token of its own, that applies by dry run under restricted", func() {
		objs := render("portal")
		kinds := map[string]int{}
		for _, u := range objs {
			kinds[u.GetKind()]++
			Expect(u.GetNamespace()).To(Equal("seatkeeper-system"), "%s %s", u.GetKind(), u.GetName())
		}
		Expect(kinds).To(Equal(map[string]int{"ServiceAccount": 1, "Deployment": 1, "Service": 1}),
			"no Role or binding: every request is made with the viewer's token")
		for _, u := range objs {
			switch u.GetKind() {
			case "ServiceAccount":
				Expect(u.Object).To(HaveKeyWithValue("automountServiceAccountToken", false))
			case "Deployment":
				automount, found, err := unstructured.NestedBool(u.Object, "spec", "template", "spec", "automountServiceAccountToken")
				Expect(err).NotTo(HaveOccurred())
				Expect(found && !automount).To(BeTrue(), "the portal's pod gets no service-account token")
			}
		}
		applier, warnings := warningClient()
		applyAll(applier, namespaces(render("default")), false)
		applyAll(applier, objs, true)
		Expect(warnings.list()).To(BeEmpty(), "the API server warned while applying config/portal")
	})

	It("renders config/samples, which apply by server-side dry run once their namespace exists", func() {
		// The samples' namespace acme is not created for real: other specs create real orders
		// for customer acme, which the operator would then fulfil. The samples go to a namespace
		// of this spec instead, which is all that changes.
		ns := newNamespace()
		objs := render("samples")
		kinds := map[string]int{}
		for _, u := range objs {
			kinds[u.GetKind()]++
		}
		for _, kind := range []string{"Namespace", "LicensePool", "SeatAssignment", "SharedSession", "CustomerOrder"} {
			Expect(kinds).To(HaveKey(kind))
		}
		var rest []*unstructured.Unstructured
		for _, u := range objs {
			switch {
			case u.GetKind() == "Namespace":
				Expect(u.GetName()).To(Equal("acme"))
			case u.GetKind() == "CustomerOrder":
				Expect(u.GetNamespace()).To(BeEmpty(), "CustomerOrder is cluster-scoped")
				rest = append(rest, u)
			default:
				Expect(u.GetNamespace()).To(Equal("acme"), "%s %s", u.GetKind(), u.GetName())
				u.SetNamespace(ns)
				rest = append(rest, u)
			}
		}
		applier, warnings := warningClient()
		applyAll(applier, rest, true)
		Expect(warnings.list()).To(BeEmpty(), "the API server warned while applying config/samples")
	})

	It("renders the ServiceMonitor and the alerts of config/prometheus, which match the metrics Service", func() {
		var service *unstructured.Unstructured
		for _, u := range render("default") {
			if u.GetKind() == "Service" {
				service = u
			}
		}
		Expect(service).NotTo(BeNil())
		svc := &corev1.Service{}
		Expect(runtimeConvert(service, svc)).To(Succeed())

		objs := render("prometheus")
		Expect(objs).To(HaveLen(2))
		var monitor, rule *unstructured.Unstructured
		for _, u := range objs {
			Expect(u.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
			switch u.GetKind() {
			case "ServiceMonitor":
				monitor = u
			case "PrometheusRule":
				rule = u
			}
		}
		Expect(monitor).NotTo(BeNil())
		Expect(rule).NotTo(BeNil())

		By("the ServiceMonitor selects the metrics Service by its labels, namespace and port name")
		var sm struct {
			Spec struct {
				Selector          metav1.LabelSelector `json:"selector"`
				NamespaceSelector struct {
					MatchNames []string `json:"matchNames"`
				} `json:"namespaceSelector"`
				Endpoints []struct {
					Port        string `json:"port"`
					Path        string `json:"path"`
					HonorLabels bool   `json:"honorLabels"`
				} `json:"endpoints"`
			} `json:"spec"`
		}
		Expect(runtimeConvert(monitor, &sm)).To(Succeed())
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		Expect(err).NotTo(HaveOccurred())
		Expect(sel.Empty()).To(BeFalse())
		Expect(sel.Matches(labels.Set(svc.Labels))).To(BeTrue(), "selector %s, Service labels %v", sel, svc.Labels)
		Expect(sm.Spec.NamespaceSelector.MatchNames).To(ContainElement(svc.Namespace))
		Expect(sm.Spec.Endpoints).To(HaveLen(1))
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, p.Name)
		}
		Expect(ports).To(ContainElement(sm.Spec.Endpoints[0].Port))
		Expect(sm.Spec.Endpoints[0].Path).To(Equal("/metrics"))
		// The metrics' own "namespace" label (the customer's) must win over the target's.
		Expect(sm.Spec.Endpoints[0].HonorLabels).To(BeTrue())

		By("every alert has a PromQL expression that parses and queries seatkeeper's metrics, a severity and a summary")
		alerts := prometheusAlerts(rule)
		var names []string
		for _, a := range alerts {
			names = append(names, a.Alert)
			Expect(a.Expr).NotTo(BeEmpty(), a.Alert)
			Expect(metricNames(Default, a.Expr)).NotTo(BeEmpty(), a.Alert)
			Expect(a.For).To(MatchRegexp(`^[0-9]+[smh]$`), a.Alert)
			Expect(a.Labels).To(HaveKeyWithValue("severity", BeElementOf("warning", "critical")), a.Alert)
			Expect(a.Annotations).To(HaveKeyWithValue("summary", Not(BeEmpty())), a.Alert)
			Expect(a.Annotations).To(HaveKeyWithValue("description", Not(BeEmpty())), a.Alert)
		}
		Expect(names).To(ContainElements("SeatkeeperPoolExhausted", "SeatkeeperLicenceExpiringSoon", "SeatkeeperHeartbeatsExpiring"))
	})

	It("has a Grafana dashboard, templated on namespace and pool, whose queries parse and use seatkeeper's metrics", func() {
		d := dashboard()
		Expect(d.UID).To(Equal("seatkeeper"))
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
			if v.Type == "query" {
				q, _ := v.Query.(map[string]any)
				Expect(q).To(HaveKey("query"), v.Name)
				_, err := parser.NewParser(parser.Options{}).ParseMetricSelector(labelValuesSelector(q["query"].(string)))
				Expect(err).NotTo(HaveOccurred(), "variable %s", v.Name)
			}
		}
		Expect(vars).To(Equal([]string{"datasource", "namespace", "pool"}))

		titles := map[string]bool{}
		for _, p := range d.Panels {
			titles[p.Title] = true
			if p.Type == "row" {
				continue
			}
			Expect(p.Targets).NotTo(BeEmpty(), p.Title)
			for _, t := range p.Targets {
				expr, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaToPromQL(t.Expr))
				Expect(err).NotTo(HaveOccurred(), "panel %q: %s", p.Title, t.Expr)
				parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
					vs, ok := node.(*parser.VectorSelector)
					if !ok || !strings.HasPrefix(vs.Name, "seatkeeper_") {
						return nil
					}
					// Per-pool series follow the dashboard's namespace and pool variables.
					var matched []string
					for _, m := range vs.LabelMatchers {
						if m.Value == "$"+m.Name {
							matched = append(matched, m.Name)
						}
					}
					Expect(matched).To(ConsistOf("namespace", "pool"), "panel %q: %s", p.Title, vs)
					return nil
				})
			}
		}
		for _, want := range []string{"Named seats in use (bound / limit)", "Shared licences in use (active / limit)", "Queue length",
			"Wait for a shared licence (creation to grant)", "Session ends by reason", "Denials by reason", "Reconcile latency"} {
			Expect(titles).To(HaveKey(want))
		}

		By("the dashboard's ConfigMap for Grafana's sidecar carries the same JSON")
		objs := render("grafana")
		Expect(objs).To(HaveLen(1))
		Expect(objs[0].GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "1"))
		data, _, _ := unstructured.NestedStringMap(objs[0].Object, "data")
		raw, err := os.ReadFile(configPath("grafana", "seatkeeper-dashboard.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(data).To(HaveKeyWithValue("seatkeeper-dashboard.json", string(raw)))
	})
})

// ---- kstatus and Argo CD ----

// getUnstructured reads an object as the API server serves it, as kstatus and Argo CD see it.
func getUnstructured(g Gomega, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1.GroupVersion.WithKind(kind))
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)).To(Succeed())
	return u
}

// evaluateHealth runs kstatus, the Flux health expressions and the Argo CD health script on an
// object.
func evaluateHealth(g Gomega, scripts map[string]string, flux map[string]fluxHealthCheck, u *unstructured.Unstructured) healthResult {
	res, err := status.Compute(u)
	g.Expect(err).NotTo(HaveOccurred())
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	reason := ""
	for _, f := range [][]string{{"status", "reason"}, {"status", "endReason"}} {
		if r, _, _ := unstructured.NestedString(u.Object, f...); r != "" {
			reason = r
		}
	}
	if reason == "" {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == v1.ConditionReady {
				reason, _ = m["reason"].(string)
			}
		}
	}
	script, ok := scripts[u.GetKind()]
	g.Expect(ok).To(BeTrue(), "no Argo CD health check for %s", u.GetKind())
	raw, err := json.Marshal(u.Object)
	g.Expect(err).NotTo(HaveOccurred())
	health, message, err := runArgoHealth(script, raw)
	g.Expect(err).NotTo(HaveOccurred(), "health check of %s %s", u.GetKind(), u.GetName())
	check, ok := flux[u.GetKind()]
	g.Expect(ok).To(BeTrue(), "no Flux healthCheckExprs for %s in docs/gitops.md", u.GetKind())
	fluxStatus, fluxErr := check.evaluate(u)
	return healthResult{
		state:   strings.TrimPrefix(phase+"/"+reason, "/"),
		kstatus: res.Status, kstatusMsg: res.Message,
		flux: fluxStatus, fluxErr: fluxErr,
		argo: health, argoMsg: message,
	}
}

// fluxHealthCheck is one entry of a Flux Kustomization's spec.healthCheckExprs.
type fluxHealthCheck struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
	Current    string `json:"current"`
}

// fluxHealthChecks are the healthCheckExprs of the Flux Kustomization in docs/gitops.md, by kind.
func fluxHealthChecks() map[string]fluxHealthCheck {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "gitops.md"))
	Expect(err).NotTo(HaveOccurred())
	out := map[string]fluxHealthCheck{}
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		for _, doc := range strings.Split(block[1], "\n---\n") {
			var k struct {
				Kind string `json:"kind"`
				Spec struct {
					HealthCheckExprs []fluxHealthCheck `json:"healthCheckExprs"`
				} `json:"spec"`
			}
			Expect(yaml.Unmarshal([]byte(doc), &k)).To(Succeed(), "a YAML block of docs/gitops.md does not parse:\n%s", doc)
			if k.Kind != "Kustomization" {
				continue
			}
			for _, c := range k.Spec.HealthCheckExprs {
				Expect(c.APIVersion).To(Equal(v1.GroupVersion.String()))
				out[c.Kind] = c
			}
		}
	}
	Expect(out).To(HaveLen(4), "docs/gitops.md: want healthCheckExprs for the four kinds")
	return out
}

// evaluate computes an object's health as Flux's kustomize-controller does with
// healthCheckExprs (RFC 0009, fluxcd/pkg runtime/cel StatusEvaluator): InProgress while
// status.observedGeneration differs from metadata.generation; else the status of the first of
// inProgress, failed and current that is true; else InProgress. The CEL environment is Flux's:
// expressions are parsed, not compiled, and read the object's fields as variables.
func (c fluxHealthCheck) evaluate(u *unstructured.Unstructured) (status.Status, error) {
	if observed, ok, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); ok && observed != u.GetGeneration() {
		return status.InProgressStatus, nil
	}
	env, err := cel.NewEnv(cel.HomogeneousAggregateLiterals(), cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true), cel.CrossTypeNumericComparisons(true), cel.OptionalTypes(),
		ext.Strings(), ext.Sets(), ext.Encoders())
	if err != nil {
		return "", err
	}
	for _, e := range []struct {
		expr   string
		result status.Status
	}{{c.InProgress, status.InProgressStatus}, {c.Failed, status.FailedStatus}, {c.Current, status.CurrentStatus}} {
		if e.expr == "" {
			continue
		}
		ast, issues := env.Parse(e.expr)
		if issues != nil && issues.Err() != nil {
			return "", fmt.Errorf("parse %q: %w", e.expr, issues.Err())
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
		if err != nil {
			return "", err
		}
		val, _, err := prg.Eval(u.Object)
		if err != nil {
			return "", fmt.Errorf("evaluate %q: %w", e.expr, err)
		}
		if b, ok := val.(types.Bool); !ok {
			return "", fmt.Errorf("%q is not a boolean", e.expr)
		} else if b {
			return e.result, nil
		}
	}
	return status.InProgressStatus, nil
}

// argoHealthScripts are the Lua health checks by kind, read from the argocd-cm that
// config/argocd renders (what Argo CD itself reads), after checking that it names each of
// seatkeeper's kinds under the key Argo CD looks up.
func argoHealthScripts() map[string]string {
	GinkgoHelper()
	objs := render("argocd")
	Expect(objs).To(HaveLen(1))
	cm := objs[0]
	Expect(cm.GetKind()).To(Equal("ConfigMap"))
	Expect(cm.GetName()).To(Equal("argocd-cm"))
	Expect(cm.GetNamespace()).To(Equal("argocd"))
	Expect(cm.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/part-of", "argocd"))
	data, _, err := unstructured.NestedStringMap(cm.Object, "data")
	Expect(err).NotTo(HaveOccurred())
	scripts := map[string]string{}
	for key, script := range data {
		kind, ok := strings.CutPrefix(key, "resource.customizations.health."+v1.GroupVersion.Group+"_")
		Expect(ok).To(BeTrue(), "unexpected key %s in argocd-cm", key)
		scripts[kind] = script
	}
	Expect(scripts).To(HaveLen(4))
	for _, kind := range []string{"LicensePool", "SeatAssignment", "SharedSession", "CustomerOrder"} {
		Expect(scripts).To(HaveKey(kind))
	}
	return scripts
}

// runArgoHealth runs an Argo CD health script on an object's JSON the way Argo CD does
// (argo-cd util/lua): a fresh gopher-lua state with only the package, base and table
// libraries, the object as the global table `obj`, one second to finish, and a returned
// table whose status must be one of Argo CD's health codes.
func runArgoHealth(script string, objJSON []byte) (health, message string, err error) {
	var obj any
	if err := json.Unmarshal(objJSON, &obj); err != nil {
		return "", "", err
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", err
		}
	}
	runCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(runCtx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	health = lua.LVAsString(ret.RawGetString("status"))
	message = lua.LVAsString(ret.RawGetString("message"))
	switch health {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return health, message, nil
	}
	return "", "", fmt.Errorf("the script returned health status %q, which Argo CD does not know", health)
}

// toLua converts a decoded JSON value to Lua as Argo CD does: objects and arrays become tables
// (arrays indexed from 1), numbers LNumber, null nil.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	panic(fmt.Sprintf("toLua: unexpected JSON value %T", v))
}

// ---- kustomize and server-side apply ----

// configPath is a path under config/ from this package's directory.
func configPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "config"}, parts...)...)
}

// render builds config/<dir> with kustomize's Go API, as `kubectl kustomize` would.
func render(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	opts := krusty.MakeDefaultOptions()
	// As kubectl kustomize: the kustomization's sortOptions, else the legacy order (namespaces
	// and CRDs first).
	opts.Reorder = krusty.ReorderOptionUnspecified
	resources, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), configPath(dir))
	Expect(err).NotTo(HaveOccurred(), "kustomize build config/%s", dir)
	var out []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		raw, err := r.MarshalJSON()
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		Expect(u.UnmarshalJSON(raw)).To(Succeed())
		out = append(out, u)
	}
	Expect(out).NotTo(BeEmpty(), "config/%s renders nothing", dir)
	return out
}

func namespaces(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			out = append(out, u)
		}
	}
	return out
}

// applyAll server-side applies each object as `kubectl apply --server-side` (make deploy) does:
// one field manager, conflicts not forced.
func applyAll(c client.Client, objs []*unstructured.Unstructured, dryRun bool) {
	GinkgoHelper()
	opts := []client.ApplyOption{client.FieldOwner("seatkeeper-gitops-test")}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	for _, u := range objs {
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), opts...)
		Expect(err).NotTo(HaveOccurred(), "apply %s %s/%s (dry run: %t)", u.GetKind(), u.GetNamespace(), u.GetName(), dryRun)
	}
}

// warningRecorder keeps the warnings the API server sends (deprecations, Pod Security).
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningRecorder) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.warnings...)
}

// warningClient is a direct client that records the API server's warnings.
func warningClient() (client.Client, *warningRecorder) {
	GinkgoHelper()
	w := &warningRecorder{}
	c := rest.CopyConfig(cfg)
	c.WarningHandler, c.WarningHandlerWithContext = nil, w
	cl, err := client.New(c, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl, w
}

// runtimeConvert decodes an unstructured object into a typed one through JSON.
func runtimeConvert(u *unstructured.Unstructured, into any) error {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// ---- Prometheus and Grafana ----

// monitoringMetrics are the series the dashboard and the alerts may query: seatkeeper's
// metrics (internal/metrics) and controller-runtime's reconcile time.
var monitoringMetrics = map[string]bool{
	"seatkeeper_pool_seats_limit":                      true,
	"seatkeeper_pool_seats_bound":                      true,
	"seatkeeper_pool_seats_pending":                    true,
	"seatkeeper_pool_sessions_limit":                   true,
	"seatkeeper_pool_sessions_active":                  true,
	"seatkeeper_pool_sessions_idle":                    true,
	"seatkeeper_pool_sessions_waiting":                 true,
	"seatkeeper_pool_sessions_overdraft":               true,
	"seatkeeper_pool_group_sessions_active":            true,
	"seatkeeper_pool_group_sessions_waiting":           true,
	"seatkeeper_pool_group_sessions_reserved":          true,
	"seatkeeper_pool_group_sessions_limit":             true,
	"seatkeeper_pool_group_seats_bound":                true,
	"seatkeeper_pool_group_seats_limit":                true,
	"seatkeeper_pool_expiry_timestamp_seconds":         true,
	"seatkeeper_session_wait_seconds_bucket":           true,
	"seatkeeper_session_wait_seconds_sum":              true,
	"seatkeeper_session_wait_seconds_count":            true,
	"seatkeeper_session_ends_total":                    true,
	"seatkeeper_denials_total":                         true,
	"seatkeeper_refused_writes_total":                  true,
	"controller_runtime_reconcile_time_seconds_bucket": true,
	"controller_runtime_reconcile_time_seconds_sum":    true,
	"controller_runtime_reconcile_time_seconds_count":  true,
}

// familyName is the metric family a series belongs to (a histogram's _bucket, _sum and _count
// series belong to the histogram).
func familyName(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && strings.HasSuffix(base, "_seconds") {
			return base
		}
	}
	return series
}

// metricNames parses a PromQL expression and returns the metrics it selects, failing when it
// does not parse or selects a metric outside monitoringMetrics.
func metricNames(g Gomega, expr string) []string {
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaToPromQL(expr))
	g.Expect(err).NotTo(HaveOccurred(), "PromQL: %s", expr)
	var names []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			g.Expect(monitoringMetrics).To(HaveKey(vs.Name), "%s selects a metric seatkeeper does not export: %s", expr, vs)
			names = append(names, vs.Name)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// grafanaToPromQL replaces Grafana's interval variables, which PromQL does not know, by a
// duration. Label variables ($namespace) sit inside strings and parse as they are.
func grafanaToPromQL(expr string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").Replace(expr)
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]+\)$`)

// labelValuesSelector is the series selector of a Grafana label_values(selector, label) query.
func labelValuesSelector(query string) string {
	m := labelValuesRE.FindStringSubmatch(query)
	Expect(m).To(HaveLen(2), "not a label_values query: %s", query)
	return m[1]
}

type grafanaDashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func dashboard() grafanaDashboard {
	GinkgoHelper()
	raw, err := os.ReadFile(configPath("grafana", "seatkeeper-dashboard.json"))
	Expect(err).NotTo(HaveOccurred())
	var d grafanaDashboard
	Expect(json.Unmarshal(raw, &d)).To(Succeed(), "config/grafana/seatkeeper-dashboard.json is not valid JSON")
	return d
}

func dashboardExprs() []string {
	var out []string
	for _, p := range dashboard().Panels {
		for _, t := range p.Targets {
			out = append(out, t.Expr)
		}
	}
	return out
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// prometheusAlerts are the rules of a PrometheusRule, read strictly: an unknown field fails.
func prometheusAlerts(rule *unstructured.Unstructured) []alertRule {
	GinkgoHelper()
	var spec struct {
		Groups []struct {
			Name  string      `json:"name"`
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	raw, err := json.Marshal(rule.Object["spec"])
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.UnmarshalStrict(raw, &spec)).To(Succeed())
	var out []alertRule
	for _, g := range spec.Groups {
		Expect(g.Name).NotTo(BeEmpty())
		Expect(g.Rules).NotTo(BeEmpty(), g.Name)
		out = append(out, g.Rules...)
	}
	return out
}

func alertExprs() []string {
	var out []string
	for _, u := range render("prometheus") {
		if u.GetKind() == "PrometheusRule" {
			for _, a := range prometheusAlerts(u) {
				out = append(out, a.Expr)
			}
		}
	}
	return out
}
