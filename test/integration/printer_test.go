package integration

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gstruct"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// What `kubectl get` shows and finds: the server-side Table of each kind, the CRDs' names,
// categories and subresources, and the field selectors.
var _ = Describe("Printer columns", Label("printer"), func() {
	DescribeTable("the API server prints",
		func(ctx SpecContext, build func(ns string) client.Object, resource string, want []printerColumn, cells gstruct.Keys) {
			obj := build(newNamespace())
			deleteClusterScopedAtEnd(obj)
			Expect(k8s.Create(ctx, obj)).To(Succeed())

			table := tableOf(ctx, resource, obj)
			Expect(printerColumns(table)).To(Equal(want))
			Expect(table.Rows).To(HaveLen(1))
			// Only cells the spec decides: status belongs to the operator.
			Expect(rowCells(table, 0)).To(gstruct.MatchKeys(gstruct.IgnoreExtras, cells))
		},
		Entry("LicensePool", func(ns string) client.Object {
			return aPool(func(p *v1.LicensePool) { p.Spec.DisplayName = "Remote support" })(ns)
		}, "licensepools", []printerColumn{
			{"Name", "string", 0},
			{"Product", "string", 0},
			{"Seats", "string", 0},
			{"Sessions", "string", 0},
			{"Waiting", "integer", 0},
			{"Expires", "string", 0},
			{"Ready", "string", 0},
			{"Age", "date", 0},
			{"Overdraft", "integer", 1},
			{"Display Name", "string", 1},
			{"Message", "string", 1},
		}, gstruct.Keys{
			"Name":         Equal("remote-support"),
			"Product":      Equal("remote-support"),
			"Display Name": Equal("Remote support"),
		}),
		Entry("SeatAssignment", func(ns string) client.Object { return aSeat()(ns) }, "seatassignments", []printerColumn{
			{"Name", "string", 0},
			{"Pool", "string", 0},
			{"Assignee", "string", 0},
			{"Kind", "string", 0},
			{"Enabled", "boolean", 0},
			{"Phase", "string", 0},
			{"Reason", "string", 0},
			{"Age", "date", 0},
			{"Bound At", "date", 1},
			{"Message", "string", 1},
		}, gstruct.Keys{
			"Name":     Equal("alice"),
			"Pool":     Equal("remote-support"),
			"Assignee": Equal("alice@example.com"),
			"Kind":     Equal("User"),
			"Enabled":  Equal(true),
		}),
		Entry("SharedSession", func(ns string) client.Object {
			return aSession(func(s *v1.SharedSession) { s.Spec.Peer, s.Spec.Priority = "customer-42", 3 })(ns)
		}, "sharedsessions", []printerColumn{
			{"Name", "string", 0},
			{"Pool", "string", 0},
			{"Holder", "string", 0},
			{"State", "string", 0},
			{"Licences", "integer", 0},
			{"Phase", "string", 0},
			{"Position", "integer", 0},
			{"Reason", "string", 0},
			{"Age", "date", 0},
			{"Peer", "string", 1},
			{"Priority", "integer", 1},
			{"Renewed", "date", 1},
			{"Message", "string", 1},
		}, gstruct.Keys{
			"Name":     Equal("alice-1"),
			"Pool":     Equal("remote-support"),
			"Holder":   Equal("alice"),
			"State":    Equal("Idle"),
			"Licences": BeNumerically("==", 1),
			"Peer":     Equal("customer-42"),
			"Priority": BeNumerically("==", 3),
		}),
		Entry("CustomerOrder", func(ns string) client.Object {
			return anOrder(customer("acme"), term("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"))(ns)
		}, "customerorders", []printerColumn{
			{"Name", "string", 0},
			{"Customer", "string", 0},
			{"Phase", "string", 0},
			{"Starts", "string", 0},
			{"Expires", "string", 0},
			{"Ready", "string", 0},
			{"Age", "date", 0},
			{"Message", "string", 1},
		}, gstruct.Keys{
			"Name":     HavePrefix("order-"),
			"Customer": Equal("acme"),
			"Starts":   Not(BeEmpty()),
			"Expires":  Not(BeEmpty()),
		}),
	)

	Describe("the CRDs", func() {
		var crds client.Client
		BeforeEach(func() {
			// A scheme of its own: the suite's scheme is shared with running managers.
			crdScheme := runtime.NewScheme()
			Expect(apiextensionsv1.AddToScheme(crdScheme)).To(Succeed())
			var err error
			crds, err = client.New(cfg, client.Options{Scheme: crdScheme})
			Expect(err).NotTo(HaveOccurred())
		})

		DescribeTable("register",
			func(ctx SpecContext, plural, shortName string, scope apiextensionsv1.ResourceScope, selectable []string) {
				crd := &apiextensionsv1.CustomResourceDefinition{}
				Expect(crds.Get(ctx, client.ObjectKey{Name: plural + "." + v1.GroupVersion.Group}, crd)).To(Succeed())
				Expect(crd.Spec.Names.Categories).To(ConsistOf("licensing"))
				Expect(crd.Spec.Names.ShortNames).To(ConsistOf(shortName))
				Expect(crd.Spec.Scope).To(Equal(scope))
				Expect(crd.Spec.Versions).To(HaveLen(1))
				version := crd.Spec.Versions[0]
				Expect(version.Name).To(Equal(v1.GroupVersion.Version))
				Expect(version.Subresources).NotTo(BeNil())
				Expect(version.Subresources.Status).NotTo(BeNil(), "the status subresource")
				var paths []string
				for _, f := range version.SelectableFields {
					paths = append(paths, f.JSONPath)
				}
				Expect(paths).To(Equal(selectable))
			},
			Entry("LicensePool", "licensepools", "lp", apiextensionsv1.NamespaceScoped, nil),
			Entry("SeatAssignment", "seatassignments", "seat", apiextensionsv1.NamespaceScoped,
				[]string{".spec.poolName", ".spec.assignee.name"}),
			Entry("SharedSession", "sharedsessions", "sess", apiextensionsv1.NamespaceScoped,
				[]string{".spec.poolName", ".spec.holder"}),
			Entry("CustomerOrder", "customerorders", "order", apiextensionsv1.ClusterScoped, nil),
			Entry("LicenseCheckParameters", "licensecheckparameters", "lcp", apiextensionsv1.ClusterScoped, nil),
		)
	})

	It("selects seats by pool and assignee", func(ctx SpecContext) {
		ns := newNamespace()
		for _, s := range []struct{ name, pool, assignee string }{
			{"alice-x", "x", "alice"}, {"bob-x", "x", "bob"}, {"alice-y", "y", "alice"},
		} {
			Expect(k8s.Create(ctx, aSeat(func(seat *v1.SeatAssignment) {
				seat.Name, seat.Spec.PoolName, seat.Spec.Assignee.Name = s.name, s.pool, s.assignee
			})(ns))).To(Succeed())
		}
		selected := func(fields client.MatchingFields) []string {
			return namesListed(ctx, &v1.SeatAssignmentList{}, client.InNamespace(ns), fields)
		}
		Expect(selected(client.MatchingFields{"spec.poolName": "x"})).To(ConsistOf("alice-x", "bob-x"))
		Expect(selected(client.MatchingFields{"spec.assignee.name": "alice"})).To(ConsistOf("alice-x", "alice-y"))
		Expect(selected(client.MatchingFields{"spec.poolName": "x", "spec.assignee.name": "alice"})).To(ConsistOf("alice-x"))
		Expect(selected(client.MatchingFields{"spec.poolName": "z"})).To(BeEmpty())
	})

	It("selects sessions by pool and holder", func(ctx SpecContext) {
		ns := newNamespace()
		for _, s := range []struct{ name, pool, holder string }{
			{"alice-x", "x", "alice"}, {"bob-x", "x", "bob"}, {"alice-y", "y", "alice"},
		} {
			Expect(k8s.Create(ctx, aSession(func(session *v1.SharedSession) {
				session.Name, session.Spec.PoolName, session.Spec.Holder = s.name, s.pool, s.holder
			})(ns))).To(Succeed())
		}
		selected := func(fields client.MatchingFields) []string {
			return namesListed(ctx, &v1.SharedSessionList{}, client.InNamespace(ns), fields)
		}
		Expect(selected(client.MatchingFields{"spec.poolName": "x"})).To(ConsistOf("alice-x", "bob-x"))
		Expect(selected(client.MatchingFields{"spec.holder": "alice"})).To(ConsistOf("alice-x", "alice-y"))
		Expect(selected(client.MatchingFields{"spec.poolName": "x", "spec.holder": "alice"})).To(ConsistOf("alice-x"))
	})

	It("refuses a field that is not selectable", func(ctx SpecContext) {
		err := k8s.List(ctx, &v1.SharedSessionList{}, client.InNamespace(newNamespace()),
			client.MatchingFields{"spec.state": "Idle"})
		Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "want BadRequest, got %v", err)
		Expect(err.Error()).To(ContainSubstring("field label not supported: spec.state"))
	})
})

// tableAccept asks the API server for the Table that kubectl get prints.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// printerColumn is the part of a column definition a user sees: its header, type and whether
// it shows only with -o wide (priority 1).
type printerColumn struct {
	Name     string
	Type     string
	Priority int32
}

// tableOf asks the API server for the Table of one object of resource.
func tableOf(ctx SpecContext, resource string, obj client.Object) *metav1.Table {
	GinkgoHelper()
	config := rest.CopyConfig(cfg)
	config.APIPath = "/apis"
	config.GroupVersion = &v1.GroupVersion
	config.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(config)
	Expect(err).NotTo(HaveOccurred())

	body, err := rc.Get().
		NamespaceIfScoped(obj.GetNamespace(), obj.GetNamespace() != "").
		Resource(resource).
		Name(obj.GetName()).
		SetHeader("Accept", tableAccept).
		DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred(), "%s", body)
	table := &metav1.Table{}
	Expect(json.Unmarshal(body, table)).To(Succeed())
	Expect(table.Kind).To(Equal("Table"))
	return table
}

func printerColumns(table *metav1.Table) []printerColumn {
	columns := make([]printerColumn, 0, len(table.ColumnDefinitions))
	for _, c := range table.ColumnDefinitions {
		columns = append(columns, printerColumn{Name: c.Name, Type: c.Type, Priority: c.Priority})
	}
	return columns
}

// rowCells maps the column names to one row's cells, leaving out empty cells.
func rowCells(table *metav1.Table, row int) map[string]any {
	GinkgoHelper()
	cells := table.Rows[row].Cells
	Expect(cells).To(HaveLen(len(table.ColumnDefinitions)))
	byName := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		if cells[i] != nil {
			byName[c.Name] = cells[i]
		}
	}
	return byName
}
