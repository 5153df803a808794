package integration

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// The validation catalogue: what the API server itself (CRD schema and CEL rules, no webhook,
// no operator) refuses, with a message that names the field, and what it accepts and defaults.
var _ = Describe("Validation", Label("validation"), func() {
	DescribeTable("refuses",
		func(ctx SpecContext, r request, field, phrase string) {
			obj := r.build(newNamespace())
			deleteClusterScopedAtEnd(obj)
			if r.change == nil {
				expectInvalid(k8s.Create(ctx, obj), field, phrase)
				return
			}
			Expect(k8s.Create(ctx, obj)).To(Succeed(), "the object before the change must be valid")
			expectInvalid(updateWith(ctx, obj, r.change), field, phrase)
		},

		// LicensePool
		Entry("pool: negative seats", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.Seats = ptr.To[int32](-1) })),
			"spec.seats", "should be greater than or equal to 0"),
		Entry("pool: seats above the bound", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.Seats = ptr.To[int32](1_000_001) })),
			"spec.seats", "should be less than or equal to 1000000"),
		Entry("pool: negative concurrentSessions", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.ConcurrentSessions = ptr.To[int32](-1) })),
			"spec.concurrentSessions", "should be greater than or equal to 0"),
		Entry("pool: unknown whenExhausted", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.WhenExhausted = "Wait" })),
			"spec.sessionPolicy.whenExhausted", `Unsupported value: "Wait"`),
		Entry("pool: unknown countBy", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.CountBy = "Device" })),
			"spec.sessionPolicy.countBy", `Unsupported value: "Device"`),
		// Go's types leave an empty required field out (omitempty, per the API conventions), so a Go
		// client's empty value is refused as missing (the "missing" entries); these send "" as YAML does.
		Entry("pool: empty product", onCreate(withValue(aPool(), "", "spec", "product")),
			"spec.product", "should be at least 1 chars long"),
		Entry("pool: product not a DNS label", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.Product = "Remote_Support" })),
			"spec.product", "product must be a lowercase name of letters, digits and '-', starting and ending with a letter or digit, e.g. remote-support"),
		Entry("pool: product longer than a DNS label", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.Product = strings.Repeat("a", 64) })),
			"spec.product", "may not be more than 63"),
		Entry("pool: missing product", onCreate(without(aPool(), "spec", "product")),
			"spec.product", "Required value"),
		Entry("pool: displayName too long", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.DisplayName = strings.Repeat("x", 257) })),
			"spec.displayName", "may not be more than 256"),
		Entry("pool: heartbeatTimeout under 5s", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.HeartbeatTimeout = duration(4 * time.Second) })),
			"spec.sessionPolicy.heartbeatTimeout", "heartbeatTimeout must be at least 5s"),
		Entry("pool: zero idleTimeout", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.IdleTimeout = duration(0) })),
			"spec.sessionPolicy.idleTimeout", "idleTimeout must be positive"),
		Entry("pool: negative idleTimeout", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.IdleTimeout = duration(-time.Minute) })),
			"spec.sessionPolicy.idleTimeout", "idleTimeout must be positive"),
		Entry("pool: zero maxDuration", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.MaxDuration = duration(0) })),
			"spec.sessionPolicy.maxDuration", "maxDuration must be positive"),
		Entry("pool: negative retainEnded", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.RetainEnded = duration(-time.Hour) })),
			"spec.sessionPolicy.retainEnded", "retainEnded must not be negative"),
		Entry("pool: negative expiryWarning", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.ExpiryWarning = duration(-time.Hour) })),
			"spec.expiryWarning", "expiryWarning must not be negative"),
		Entry("pool: a heartbeatTimeout of 11 years", onCreate(withValue(aPool(), "99999h", "spec", "sessionPolicy", "heartbeatTimeout")),
			"spec.sessionPolicy.heartbeatTimeout", "heartbeatTimeout must be at most 1h, e.g. 60s"),
		Entry("pool: idleTimeout over 30 days", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.IdleTimeout = duration(721 * time.Hour) })),
			"spec.sessionPolicy.idleTimeout", "idleTimeout must be at most 720h (30 days), e.g. 15m or 8h"),
		Entry("pool: maxDuration over a year", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.MaxDuration = duration(8785 * time.Hour) })),
			"spec.sessionPolicy.maxDuration", "maxDuration must be at most 8784h (366 days)"),
		Entry("pool: retainEnded over a year", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.SessionPolicy.RetainEnded = duration(8785 * time.Hour) })),
			"spec.sessionPolicy.retainEnded", "retainEnded must be at most 8784h (366 days)"),
		Entry("pool: expiryWarning over a year", onCreate(aPool(func(p *v1.LicensePool) { p.Spec.ExpiryWarning = duration(8785 * time.Hour) })),
			"spec.expiryWarning", "expiryWarning must be at most 8784h (366 days)"),
		Entry("pool: product changed", onUpdate(aPool(), func(p *v1.LicensePool) { p.Spec.Product = "remote-access" }),
			"spec.product", "product is immutable"),
		Entry("pool: managedBy changed", onUpdate(aPool(managedBy("example.com/billing")), func(p *v1.LicensePool) { p.Spec.ManagedBy = "example.com/other" }),
			"spec.managedBy", "managedBy is immutable"),
		Entry("pool: managedBy added", onUpdate(aPool(), func(p *v1.LicensePool) { p.Spec.ManagedBy = "example.com/billing" }),
			"spec.managedBy", "managedBy is immutable"),
		Entry("pool: managedBy removed", onUpdate(aPool(managedBy("example.com/billing")), func(p *v1.LicensePool) { p.Spec.ManagedBy = "" }),
			"spec.managedBy", "managedBy is immutable"),
		// Pending on an API fix: the duration fields have format "duration", which the API server
		// parses more loosely than Go (it also takes "1d", "2w", "5 s" and values that overflow), so
		// it stores pools that no Go client, the operator included, can decode. A Pattern marker
		// is the likely fix; the phrase below assumes one.
		Entry("pool: heartbeatTimeout in days, which Go cannot read", onCreate(withValue(aPool(), "1d", "spec", "sessionPolicy", "heartbeatTimeout")),
			"spec.sessionPolicy.heartbeatTimeout", "heartbeatTimeout must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"),
		Entry("pool: maxDuration that overflows Go's duration", onCreate(withValue(aPool(), "5124096h", "spec", "sessionPolicy", "maxDuration")),
			"spec.sessionPolicy.maxDuration", "maxDuration must be a duration such as 90s, 15m or 8h"),

		Entry("pool: expiresAt as an empty list, which the schema's type check lets through", onCreate(withValue(aPool(), []any{}, "spec", "expiresAt")),
			"spec.expiresAt", "expiresAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"),
		Entry("pool: heartbeatTimeout without a unit", onCreate(withValue(aPool(), "5", "spec", "sessionPolicy", "heartbeatTimeout")),
			"spec.sessionPolicy.heartbeatTimeout", "heartbeatTimeout must be a duration such as 90s, 15m or 8h"),
		Entry("pool: expiresAt before 1970", onCreate(withValue(aPool(), "1969-12-31T23:59:59Z", "spec", "expiresAt")),
			"spec.expiresAt", "expiresAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"),
		// SeatAssignment
		Entry("seat: changed assignee.kind", onUpdate(aSeat(), func(s *v1.SeatAssignment) { s.Spec.Assignee.Kind = v1.AssigneeDevice }),
			"spec.assignee.kind", "assignee.kind is immutable"),
		Entry("seat: unknown assignee.kind", onCreate(aSeat(func(s *v1.SeatAssignment) { s.Spec.Assignee.Kind = "Group" })),
			"spec.assignee.kind", `Unsupported value: "Group"`),
		Entry("seat: empty assignee.name", onCreate(withValue(aSeat(), "", "spec", "assignee", "name")),
			"spec.assignee.name", "should be at least 1 chars long"),
		Entry("seat: missing assignee.name", onCreate(without(aSeat(), "spec", "assignee", "name")),
			"spec.assignee.name", "Required value"),
		Entry("seat: assignee.name with a leading space", onCreate(aSeat(func(s *v1.SeatAssignment) { s.Spec.Assignee.Name = " u1@x.example" })),
			"spec.assignee.name", "assignee.name must not start or end with a space: write the name alone, e.g. alice@acme.example"),
		Entry("seat: assignee.name with a trailing tab", onCreate(aSeat(func(s *v1.SeatAssignment) { s.Spec.Assignee.Name = "u1@x.example\t" })),
			"spec.assignee.name", "assignee.name must not start or end with a space"),
		Entry("seat: assignee.name too long", onCreate(aSeat(func(s *v1.SeatAssignment) { s.Spec.Assignee.Name = strings.Repeat("x", 257) })),
			"spec.assignee.name", "may not be more than 256"),
		Entry("seat: missing poolName", onCreate(without(aSeat(), "spec", "poolName")),
			"spec.poolName", "Required value"),
		Entry("seat: poolName not an object name", onCreate(aSeat(func(s *v1.SeatAssignment) { s.Spec.PoolName = "Remote_Support" })),
			"spec.poolName", "poolName must be a pool's name: lowercase letters, digits, '-' and '.'"),
		Entry("seat: poolName changed", onUpdate(aSeat(), func(s *v1.SeatAssignment) { s.Spec.PoolName = "other-pool" }),
			"spec.poolName", "poolName is immutable"),
		Entry("seat: assignee.name changed", onUpdate(aSeat(), func(s *v1.SeatAssignment) { s.Spec.Assignee.Name = "bob" }),
			"spec.assignee.name", "assignee.name is immutable"),

		// SharedSession
		Entry("session: unknown state", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.State = "Busy" })),
			"spec.state", `Unsupported value: "Busy"`),
		Entry("session: missing holder", onCreate(without(aSession(), "spec", "holder")),
			"spec.holder", "Required value"),
		Entry("session: empty holder", onCreate(withValue(aSession(), "", "spec", "holder")),
			"spec.holder", "should be at least 1 chars long"),
		Entry("session: missing poolName", onCreate(without(aSession(), "spec", "poolName")),
			"spec.poolName", "Required value"),
		Entry("session: holder with spaces around it", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.Holder = " dave@acme.example " })),
			"spec.holder", "holder must not start or end with a space: write the name alone, e.g. alice@acme.example"),
		Entry("session: holder too long", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.Holder = strings.Repeat("x", 257) })),
			"spec.holder", "may not be more than 256"),
		Entry("session: peer too long", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.Peer = strings.Repeat("x", 257) })),
			"spec.peer", "may not be more than 256"),
		Entry("session: priority above the bound", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.Priority = 1_000_001 })),
			"spec.priority", "should be less than or equal to 1000000"),
		Entry("session: priority below the bound", onCreate(aSession(func(s *v1.SharedSession) { s.Spec.Priority = -1_000_001 })),
			"spec.priority", "should be greater than or equal to -1000000"),
		Entry("session: poolName changed", onUpdate(aSession(), func(s *v1.SharedSession) { s.Spec.PoolName = "other-pool" }),
			"spec.poolName", "poolName is immutable"),
		Entry("session: holder changed", onUpdate(aSession(), func(s *v1.SharedSession) { s.Spec.Holder = "bob" }),
			"spec.holder", "holder is immutable"),
		Entry("session: terminate set back to false", onUpdate(aSession(terminated), func(s *v1.SharedSession) { s.Spec.Terminate = false }),
			"spec.terminate", "terminate cannot be undone"),

		// CustomerOrder (cluster-scoped)
		Entry("order: expiresAt before startsAt", onCreate(anOrder(term("2030-06-01T00:00:00Z", "2030-01-01T00:00:00Z"))),
			"spec.expiresAt", "expiresAt must be after startsAt"),
		Entry("order: expiresAt equal to startsAt", onCreate(anOrder(term("2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"))),
			"spec.expiresAt", "expiresAt must be after startsAt"),
		Entry("order: duplicate pool names", onCreate(anOrder(items(
			v1.OrderItem{Product: "remote-support", PoolName: "support", Seats: 5},
			v1.OrderItem{Product: "remote-access", PoolName: "support", Seats: 5}))),
			"spec.items", "items must name each pool once"),
		Entry("order: duplicate pool names, one implied by the product", onCreate(anOrder(items(
			v1.OrderItem{Product: "remote-support", Seats: 5},
			v1.OrderItem{Product: "remote-access", PoolName: "remote-support", Seats: 5}))),
			"spec.items", "items must name each pool once"),
		Entry("order: the same product twice, both implied", onCreate(anOrder(items(
			v1.OrderItem{Product: "remote-support", Seats: 5},
			v1.OrderItem{Product: "remote-support", ConcurrentSessions: 2}))),
			"spec.items", "items must name each pool once"),
		Entry("order: empty items", onCreate(withValue(anOrder(), []any{}, "spec", "items")),
			"spec.items", "should have at least 1 items"),
		Entry("order: missing items", onCreate(without(anOrder(), "spec", "items")),
			"spec.items", "Required value"),
		Entry("order: item product not a DNS label", onCreate(anOrder(items(v1.OrderItem{Product: "Remote Support"}))),
			"spec.items[0].product", "product must be a lowercase name"),
		Entry("order: item with negative seats", onCreate(anOrder(items(v1.OrderItem{Product: "remote-support", Seats: -1}))),
			"spec.items[0].seats", "should be greater than or equal to 0"),
		Entry("order: customer not a namespace name", onCreate(anOrder(func(o *v1.CustomerOrder) { o.Spec.Customer = "Acme Inc" })),
			"spec.customer", "customer must be the customer's namespace"),
		Entry("order: customer changed once set", onUpdate(anOrder(customer("acme")), func(o *v1.CustomerOrder) { o.Spec.Customer = "globex" }),
			"spec.customer", "customer cannot change once set"),
		Entry("order: customer removed once set", onUpdate(anOrder(customer("acme")), func(o *v1.CustomerOrder) { o.Spec.Customer = "" }),
			"spec.customer", "customer cannot change once set"),
		Entry("order: cancelled set back to false", onUpdate(anOrder(cancelled), func(o *v1.CustomerOrder) { o.Spec.Cancelled = false }),
			"spec.cancelled", "a cancelled order cannot be reinstated"),
	)

	DescribeTable("accepts",
		func(ctx SpecContext, r request) {
			obj := r.build(newNamespace())
			deleteClusterScopedAtEnd(obj)
			if s, ok := obj.(*v1.SharedSession); ok {
				// A session whose pool is missing ends at once, and an Ended session's record is
				// final: the change would race the operator. Give the session its pool.
				newPool(s.Namespace, s.Spec.PoolName, nil, nil)
			}
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			if r.change != nil {
				Expect(updateWith(ctx, obj, r.change)).To(Succeed())
			}
		},
		Entry("pool: the longest heartbeat, idle, duration, retention and warning", onCreate(aPool(func(p *v1.LicensePool) {
			p.Spec.SessionPolicy.HeartbeatTimeout = duration(time.Hour)
			p.Spec.SessionPolicy.IdleTimeout = duration(720 * time.Hour)
			p.Spec.SessionPolicy.MaxDuration = duration(8784 * time.Hour)
			p.Spec.SessionPolicy.RetainEnded = duration(8784 * time.Hour)
			p.Spec.ExpiryWarning = duration(8784 * time.Hour)
		}))),
		Entry("pool: no seats and no sessions, the shortest heartbeat", onCreate(aPool(func(p *v1.LicensePool) {
			p.Spec.Seats, p.Spec.ConcurrentSessions = ptr.To[int32](0), ptr.To[int32](0)
			p.Spec.SessionPolicy.HeartbeatTimeout = duration(5 * time.Second)
			p.Spec.SessionPolicy.RetainEnded = duration(0)
		}))),
		Entry("pool: limits, expiry and policy changed", onUpdate(aPool(), func(p *v1.LicensePool) {
			p.Spec.Seats, p.Spec.ConcurrentSessions = ptr.To[int32](25), ptr.To[int32](10)
			p.Spec.ExpiresAt = &metav1.Time{Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			p.Spec.DisplayName = "Remote support"
			p.Spec.SessionPolicy.IdleTimeout = duration(15 * time.Minute)
			p.Spec.SessionPolicy.MaxDuration = duration(8 * time.Hour)
			p.Spec.SessionPolicy.WhenExhausted = v1.WhenExhaustedReject
			p.Spec.SessionPolicy.CountBy = v1.CountByHolder
		})),
		Entry("pool: other fields changed while managedBy stays", onUpdate(aPool(managedBy("example.com/billing")), func(p *v1.LicensePool) {
			p.Spec.Seats = ptr.To[int32](3)
		})),
		// Pending on an API fix: the managedBy rule compares has(), so a pool written with
		// managedBy: "" (as a template may render it) cannot be updated by a Go client, whose
		// omitempty leaves the field out, though nothing changed.
		Entry("pool: managedBy written empty, then left out", onUpdate(withValue(aPool(), "", "spec", "managedBy"), func(u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "managedBy")
		})),
		Entry("seat: a device, toggled off", onUpdate(aSeat(func(s *v1.SeatAssignment) { s.Spec.Assignee.Kind = v1.AssigneeDevice }), func(s *v1.SeatAssignment) {
			s.Spec.Enabled = ptr.To(false)
		})),
		Entry("session: state, peer and priority changed", onUpdate(aSession(), func(s *v1.SharedSession) {
			s.Spec.State, s.Spec.Peer, s.Spec.Priority = v1.SessionConnected, "customer-42", 1_000_000
		})),
		Entry("session: terminate set to true", onUpdate(aSession(), func(s *v1.SharedSession) { s.Spec.Terminate = true })),
		Entry("order: customer set later", onUpdate(anOrder(), func(o *v1.CustomerOrder) { o.Spec.Customer = "acme" })),
		Entry("order: items changed while customer stays", onUpdate(anOrder(customer("acme")), func(o *v1.CustomerOrder) { o.Spec.Items[0].Seats = 7 })),
		Entry("order: cancelled", onUpdate(anOrder(customer("acme")), func(o *v1.CustomerOrder) { o.Spec.Cancelled = true })),
		Entry("order: one product in two pools, with a term", onCreate(anOrder(
			term("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
			items(v1.OrderItem{Product: "remote-support", Seats: 5}, v1.OrderItem{Product: "remote-support", PoolName: "support-eu", ConcurrentSessions: 2}),
		))),
	)

	// The defaults are read back as the API server stored them (unstructured), so a default that
	// equals Go's zero value (requireSeat: false, priority: 0) is seen to be present.
	It("refuses a count past int32 with one line that names the field", func(ctx SpecContext) {
		for _, tc := range []struct {
			build func(ns string) *unstructured.Unstructured
			field string
		}{
			{withValue(aPool(), int64(99999999999), "spec", "seats"), "spec.seats"},
			{withValue(aPool(), int64(2147483648), "spec", "concurrentSessions"), "spec.concurrentSessions"},
			{withValue(aSession(), int64(-99999999999), "spec", "priority"), "spec.priority"},
		} {
			err := k8s.Create(ctx, tc.build(newNamespace()))
			expectInvalid(err, tc.field, "in body should be")
			Expect(err.Error()).NotTo(ContainSubstring("<nil>"), "every line of the refusal names its field")
		}
	})

	It("fills in a pool's defaults when only product is given", func(ctx SpecContext) {
		pool := aPool()(newNamespace())
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		Expect(storedSpec(ctx, pool)).To(Equal(map[string]any{
			"product":       "remote-support",
			"expiryWarning": "168h",
			"sessionPolicy": map[string]any{
				"heartbeatTimeout": "60s",
				"whenExhausted":    "Queue",
				"countBy":          "Session",
				"requireSeat":      false,
				"retainEnded":      "24h",
				// Issue 14: a session a capacity drop takes back gets five minutes' notice.
				"capacityGracePeriod": "5m",
			},
		}))
	})

	It("fills in a seat's assignee kind and toggle", func(ctx SpecContext) {
		seat := aSeat()(newNamespace())
		Expect(k8s.Create(ctx, seat)).To(Succeed())
		Expect(storedSpec(ctx, seat)).To(Equal(map[string]any{
			"poolName": "remote-support",
			"assignee": map[string]any{"kind": "User", "name": "alice@example.com"},
			"enabled":  true,
		}))
	})

	It("fills in a session's state, priority and count", func(ctx SpecContext) {
		session := aSession()(newNamespace())
		Expect(k8s.Create(ctx, session)).To(Succeed())
		Expect(storedSpec(ctx, session)).To(Equal(map[string]any{
			"poolName": "remote-support",
			"holder":   "alice",
			"state":    "Idle",
			"priority": int64(0),
			"count":    int64(1),
		}))
	})
})

// request is one write to the API server: a create, or a create of a valid object followed by an
// update that applies change.
type request struct {
	build  func(ns string) client.Object
	change func(client.Object)
}

func onCreate[T client.Object](build func(ns string) T) request {
	return request{build: func(ns string) client.Object { return build(ns) }}
}

func onUpdate[T client.Object](build func(ns string) T, change func(T)) request {
	return request{
		build:  func(ns string) client.Object { return build(ns) },
		change: func(obj client.Object) { change(obj.(T)) },
	}
}

// updateWith re-reads obj, applies change and updates it, retrying on conflicts so that an
// operator writing status at the same time cannot turn the expected answer into a Conflict.
func updateWith(ctx SpecContext, obj client.Object, change func(client.Object)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(ctx, obj)
	})
}

// expectInvalid asserts that the API server refused a write as Invalid (422), with a cause on
// field whose message contains phrase, and that the error a user sees names the field too.
func expectInvalid(err error, field, phrase string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted it; want it refused on %s", field)
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(field + ": "))
	status, ok := err.(apierrors.APIStatus)
	Expect(ok).To(BeTrue(), "%T is not an API status", err)
	Expect(status.Status().Details).NotTo(BeNil())
	Expect(status.Status().Details.Causes).To(ContainElement(And(
		HaveField("Field", field),
		HaveField("Message", ContainSubstring(phrase)),
	)), "the causes of %q", err.Error())
}

// deleteClusterScopedAtEnd deletes a cluster-scoped object when the spec ends, if it was created;
// namespaced objects go with their spec's namespace.
func deleteClusterScopedAtEnd(obj client.Object) {
	if obj.GetNamespace() != "" {
		return
	}
	DeferCleanup(func(ctx SpecContext) {
		if obj.GetName() != "" {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed())
		}
	})
}

// storedSpec reads obj back as the API server stores it and returns its spec.
func storedSpec(ctx SpecContext, obj client.Object) map[string]any {
	GinkgoHelper()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	Expect(err).NotTo(HaveOccurred())
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(gvk)
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), stored)).To(Succeed())
	spec, _, err := unstructured.NestedMap(stored.Object, "spec")
	Expect(err).NotTo(HaveOccurred())
	return spec
}

// without builds the object and removes one field, for the required fields that Go's types
// always send.
func without[T client.Object](build func(ns string) T, path ...string) func(ns string) *unstructured.Unstructured {
	return asUnstructured(build, func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, path...) })
}

// withValue builds the object and sets one field to a value that Go's types cannot send.
func withValue[T client.Object](build func(ns string) T, value any, path ...string) func(ns string) *unstructured.Unstructured {
	return asUnstructured(build, func(u *unstructured.Unstructured) {
		GinkgoHelper()
		Expect(unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
	})
}

func asUnstructured[T client.Object](build func(ns string) T, edit func(*unstructured.Unstructured)) func(ns string) *unstructured.Unstructured {
	return func(ns string) *unstructured.Unstructured {
		GinkgoHelper()
		obj := build(ns)
		gvk, err := apiutil.GVKForObject(obj, scheme)
		Expect(err).NotTo(HaveOccurred())
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{Object: content}
		u.SetGroupVersionKind(gvk)
		edit(u)
		return u
	}
}

// Valid objects, named for the validation specs; each mutation makes one change.

func aPool(mutate ...func(*v1.LicensePool)) func(ns string) *v1.LicensePool {
	return func(ns string) *v1.LicensePool {
		p := &v1.LicensePool{
			ObjectMeta: metav1.ObjectMeta{Name: "remote-support", Namespace: ns},
			Spec:       v1.LicensePoolSpec{Product: "remote-support"},
		}
		for _, m := range mutate {
			m(p)
		}
		return p
	}
}

func managedBy(manager string) func(*v1.LicensePool) {
	return func(p *v1.LicensePool) { p.Spec.ManagedBy = manager }
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func aSeat(mutate ...func(*v1.SeatAssignment)) func(ns string) *v1.SeatAssignment {
	return func(ns string) *v1.SeatAssignment {
		s := &v1.SeatAssignment{
			ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns},
			Spec: v1.SeatAssignmentSpec{
				PoolName: "remote-support",
				Assignee: v1.Assignee{Name: "alice@example.com"},
			},
		}
		for _, m := range mutate {
			m(s)
		}
		return s
	}
}

func aSession(mutate ...func(*v1.SharedSession)) func(ns string) *v1.SharedSession {
	return func(ns string) *v1.SharedSession {
		s := &v1.SharedSession{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-1", Namespace: ns},
			Spec:       v1.SharedSessionSpec{PoolName: "remote-support", Holder: "alice"},
		}
		for _, m := range mutate {
			m(s)
		}
		return s
	}
}

func terminated(s *v1.SharedSession) { s.Spec.Terminate = true }

// anOrder builds a cluster-scoped order with a generated name; the namespace is not used.
func anOrder(mutate ...func(*v1.CustomerOrder)) func(ns string) *v1.CustomerOrder {
	return func(string) *v1.CustomerOrder {
		o := &v1.CustomerOrder{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "order-"},
			Spec: v1.CustomerOrderSpec{
				Items: []v1.OrderItem{{Product: "remote-support", Seats: 5, ConcurrentSessions: 2}},
			},
		}
		for _, m := range mutate {
			m(o)
		}
		return o
	}
}

func customer(ns string) func(*v1.CustomerOrder) {
	return func(o *v1.CustomerOrder) { o.Spec.Customer = ns }
}

func cancelled(o *v1.CustomerOrder) { o.Spec.Cancelled = true }

func items(list ...v1.OrderItem) func(*v1.CustomerOrder) {
	return func(o *v1.CustomerOrder) { o.Spec.Items = append([]v1.OrderItem{}, list...) }
}

// term sets the order's startsAt and expiresAt, given in RFC 3339.
func term(startsAt, expiresAt string) func(*v1.CustomerOrder) {
	return func(o *v1.CustomerOrder) {
		GinkgoHelper()
		starts, err := time.Parse(time.RFC3339, startsAt)
		Expect(err).NotTo(HaveOccurred())
		expires, err := time.Parse(time.RFC3339, expiresAt)
		Expect(err).NotTo(HaveOccurred())
		o.Spec.StartsAt, o.Spec.ExpiresAt = &metav1.Time{Time: starts}, &metav1.Time{Time: expires}
	}
}

var _ = Describe("Validation of status", Label("validation"), func() {
	It("refuses to bring an Ended session back", func(ctx SpecContext) {
		ns := newNamespace()
		s := newSession(ns, "s", "nowhere", "alice") // no pool: the operator ends it at once
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s").Status.Phase).To(Equal(v1.SessionEnded)) }).Should(Succeed())
		s = getSession(Default, ns, "s")
		s.Status.Phase = v1.SessionActive
		expectInvalid(k8s.Status().Update(ctx, s), "status.phase", "an Ended session stays Ended")
	})
})

var _ = Describe("An ended record is final", Label("validation"), func() {
	// endedSession is a session the operator has ended (its pool does not exist).
	endedSession := func(ns string) *v1.SharedSession {
		GinkgoHelper()
		newSession(ns, "s", "nowhere", "alice@acme.example")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s").Status.Phase).To(Equal(v1.SessionEnded)) }).Should(Succeed())
		return getSession(Default, ns, "s")
	}
	final := "the session has ended and its record is final"

	It("refuses any change to an Ended session's spec, for the administrator and the agent alike", func(ctx SpecContext) {
		ns := newNamespace()
		endedSession(ns)
		for _, patch := range []string{
			`{"spec":{"peer":"ticket-99999"}}`,
			`{"spec":{"state":"Connected"}}`,
			`{"spec":{"priority":5}}`,
		} {
			s := getSession(Default, ns, "s")
			err := k8s.Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(patch)))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: want Invalid, got %v", patch, err)
			Expect(err.Error()).To(ContainSubstring(final), patch)
		}
		s := getSession(Default, ns, "s")
		Expect(s.Spec.Peer).To(BeEmpty())
		Expect(s.Spec.State).To(Equal(v1.SessionIdle))
	})

	It("refuses any change to an Ended session's status: a heartbeat, a message, a reason", func(ctx SpecContext) {
		ns := newNamespace()
		endedSession(ns)
		for _, patch := range []string{
			`{"status":{"renewTime":"2026-11-23T12:00:00.000000Z"}}`,
			`{"status":{"message":"rewritten"}}`,
			`{"status":{"endReason":"Terminated"}}`,
		} {
			s := getSession(Default, ns, "s")
			err := k8s.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(patch)))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: want Invalid, got %v", patch, err)
			Expect(err.Error()).To(ContainSubstring(final), patch)
		}
	})

	It("still lets an Ended session be labelled and deleted", func(ctx SpecContext) {
		ns := newNamespace()
		s := endedSession(ns)
		Expect(k8s.Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"audit":"2026-q4"}}}`)))).To(Succeed())
		Expect(k8s.Delete(ctx, s)).To(Succeed())
	})

	It("explains a renewTime it cannot take, with an example it can", func(ctx SpecContext) {
		ns := newNamespace()
		newPool(ns, "p", nil, nil)
		newSession(ns, "s", "p", "alice@acme.example")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s").Status.Phase).To(Equal(v1.SessionActive)) }).Should(Succeed())
		for _, tc := range []struct{ renewTime, phrase string }{
			{"2026-11-23T12:00:00.123Z", "renewTime must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z"},
			{"2026-11-23T12:00:00Z", "renewTime must be an RFC 3339 time with six fractional digits"},
			{"yesterday", "renewTime must be an RFC 3339 time with six fractional digits"},
			{"1969-12-31T23:59:59.000000Z", "renewTime must be on or after 1970-01-01T00:00:00.000000Z, e.g. 2026-11-23T12:00:00.000000Z"},
		} {
			s := getSession(Default, ns, "s")
			patch := fmt.Sprintf(`{"status":{"renewTime":%q}}`, tc.renewTime)
			expectInvalid(k8s.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(patch))), "status.renewTime", tc.phrase)
		}
		heartbeat(ns, "s") // six digits, as the README shows: accepted
	})

	It("refuses a hand-written status that contradicts itself", func(ctx SpecContext) {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(0)) // no shared licence: the session waits
		newSession(ns, "s", "p", "alice@acme.example")
		Eventually(func(g Gomega) { g.Expect(getSession(g, ns, "s").Status.Phase).To(Equal(v1.SessionWaiting)) }).Should(Succeed())
		for _, tc := range []struct{ patch, field, phrase string }{
			{`{"status":{"phase":"Ended"}}`, "status.phase", "an Ended session needs endedAt and endReason"},
			{`{"status":{"phase":"Active"}}`, "status.queuePosition", "only a Waiting session has a queuePosition"},
			{`{"status":{"conditions":[{"type":"Granted","status":"True","reason":"Granted","message":"m","lastTransitionTime":"2026-11-23T12:00:00Z"}]}}`,
				"status.conditions", "only an Active session has the Granted condition True"},
		} {
			s := getSession(Default, ns, "s")
			expectInvalid(k8s.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(tc.patch))), tc.field, tc.phrase)
		}
		Expect(getSession(Default, ns, "s").Status.Phase).To(Equal(v1.SessionWaiting))
	})

	It("refuses to change the spec of an order that has ended", func(ctx SpecContext) {
		ns := newNamespace()
		o := anOrder(customer(ns), cancelled)(ns)
		Expect(k8s.Create(ctx, o)).To(Succeed())
		deleteClusterScopedAtEnd(o)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed())
			g.Expect(o.Status.Phase).To(Equal(v1.OrderCancelled))
		}).Should(Succeed())
		err := k8s.Patch(ctx, o, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"expiresAt":"2030-01-01T00:00:00Z"}}`)))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("the order has ended (expired or cancelled) and its record is final"))
	})
})
