package integration

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

// The privilege levels (config/rbac/privilege_roles.yaml) and the agents' admission policy
// (config/admission) as shipped, checked with impersonated users, groups and service accounts.
// The suite's own client and operator run as system:masters, which the policy exempts.
var _ = Describe("Privileges", Label("rbac"), Ordered, ContinueOnFailure, func() {
	BeforeAll(func() {
		installManifests(
			"config/rbac/privilege_roles.yaml",
			"config/rbac/manager_sessions_role.yaml",
			// The operator's own RBAC, to check that its service account is not held to the
			// agents' rules.
			"config/rbac/role.yaml",
			"config/rbac/role_binding.yaml",
			"config/admission/agent_sessions_policy.yaml",
			"config/admission/kube_controllers_sessions.yaml",
		)
		aggregateBuiltinRoles()
		waitForAgentPolicy()
	})

	Describe("view, edit and admin", func() {
		It("take in reports, licenses and supervisor", func() {
			ns := newNamespace()
			newPool(ns, "p", int32p(1), int32p(1))
			viewer, editor, admin := user("viewer@"+ns), user("editor@"+ns), user("admin@"+ns)
			for role, p := range map[string]principal{"view": viewer, "edit": editor, "admin": admin} {
				grant(ns, role, p)
			}

			Expect(viewer.c.List(ctx, &v1.SharedSessionList{}, client.InNamespace(ns))).To(Succeed())
			expectRBACRefusal(viewer.c.Create(ctx, &v1.SeatAssignment{ObjectMeta: objMeta(ns, "dave"),
				Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "dave"}}}))

			// An editor manages licences: it is no agent, so it may create a session for another.
			Expect(editor.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "dave@acme.example"}})).To(Succeed())
			Expect(editor.c.Patch(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s")}, mergePatch(`{"spec":{"priority":3}}`))).To(Succeed())

			Expect(admin.c.Create(ctx, roleBinding(ns, "carol", "seatkeeper-licenses", user("carol@"+ns)))).To(Succeed())
			Expect(admin.c.Delete(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s")})).To(Succeed())
		})
	})

	Describe("reports", func() {
		It("reads every kind and changes none", func() {
			ns := newNamespace()
			newPool(ns, "p", int32p(2), int32p(2))
			newSeat(ns, "dave", "p", "dave@acme.example", v1.AssigneeUser)
			newSession(ns, "s", "p", "dave@acme.example")
			reports := user("reports@" + ns)
			grant(ns, "seatkeeper-reports", reports)

			Expect(reports.c.List(ctx, &v1.LicensePoolList{}, client.InNamespace(ns))).To(Succeed())
			Expect(reports.c.List(ctx, &v1.SeatAssignmentList{}, client.InNamespace(ns))).To(Succeed())
			Expect(reports.c.List(ctx, &v1.SharedSessionList{}, client.InNamespace(ns))).To(Succeed())
			Expect(reports.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s"}, &v1.SharedSession{})).To(Succeed())

			seat := &v1.SeatAssignment{ObjectMeta: objMeta(ns, "eve"),
				Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "eve@acme.example"}}}
			expectRBACRefusal(reports.c.Create(ctx, seat))
			expectRBACRefusal(reports.c.Patch(ctx, &v1.LicensePool{ObjectMeta: objMeta(ns, "p")}, mergePatch(`{"spec":{"seats":3}}`)))
			expectRBACRefusal(reports.c.Patch(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s")}, mergePatch(`{"spec":{"terminate":true}}`)))
			expectRBACRefusal(reports.c.Status().Patch(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s")}, renewPatch(time.Now())))
			expectRBACRefusal(reports.c.Delete(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s")}))
			// Orders are cluster-scoped: a RoleBinding does not reach them.
			expectRBACRefusal(reports.c.List(ctx, &v1.CustomerOrderList{}))
		})
	})

	Describe("licenses", func() {
		It("installs, moves and changes licences, ends anyone's session, and only reads orders", func() {
			ns := newNamespace()
			lic := user("licenses@" + ns)
			grant(ns, "seatkeeper-licenses", lic)

			pool := &v1.LicensePool{ObjectMeta: objMeta(ns, "p"),
				Spec: v1.LicensePoolSpec{Product: "remote-support", Seats: int32p(1), ConcurrentSessions: int32p(1)}}
			Expect(lic.c.Create(ctx, pool)).To(Succeed())
			Expect(lic.c.Patch(ctx, pool, mergePatch(`{"spec":{"seats":2}}`))).To(Succeed())
			seat := &v1.SeatAssignment{ObjectMeta: objMeta(ns, "dave"),
				Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "dave@acme.example"}}}
			Expect(lic.c.Create(ctx, seat)).To(Succeed())
			Expect(lic.c.Patch(ctx, seat, mergePatch(`{"spec":{"enabled":false}}`))).To(Succeed())
			Expect(lic.c.Delete(ctx, seat)).To(Succeed())

			// A licence manager is no agent: it may create sessions for others, order the queue
			// and end them.
			sess := &v1.SharedSession{ObjectMeta: objMeta(ns, "s"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "dave@acme.example", Priority: 5}}
			Expect(lic.c.Create(ctx, sess)).To(Succeed())
			Expect(lic.c.Patch(ctx, sess, mergePatch(`{"spec":{"priority":7,"terminate":true}}`))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getSession(g, ns, "s").Status.Phase).To(Equal(v1.SessionEnded))
			}).Should(Succeed())

			// Status is the operator's (and the holder's heartbeat).
			expectRBACRefusal(lic.c.Status().Patch(ctx, &v1.LicensePool{ObjectMeta: objMeta(ns, "p")},
				mergePatch(`{"status":{"message":"forged"}}`)))

			// Orders: read with a ClusterRoleBinding (they are cluster-scoped), never written.
			grantClusterWide("seatkeeper-licenses", lic)
			order := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-" + ns},
				Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 1}}}}
			Expect(k8s.Create(ctx, order)).To(Succeed())
			DeferCleanup(func() { _ = k8s.Delete(ctx, order) })
			Expect(lic.c.List(ctx, &v1.CustomerOrderList{})).To(Succeed())
			Expect(lic.c.Get(ctx, client.ObjectKeyFromObject(order), &v1.CustomerOrder{})).To(Succeed())
			expectRBACRefusal(lic.c.Create(ctx, &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-2-" + ns},
				Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 1}}}}))
			expectRBACRefusal(lic.c.Patch(ctx, order, mergePatch(fmt.Sprintf(`{"spec":{"customer":%q}}`, ns))))
			expectRBACRefusal(lic.c.Delete(ctx, order))
		})
	})

	Describe("partner", func() {
		It("records and assigns orders, reads pools, and touches nothing else", func() {
			ns := newNamespace()
			newPool(ns, "remote-support", int32p(1), int32p(1))
			partner := user("partner@" + ns)
			grantClusterWide("seatkeeper-partner", partner)

			order := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-" + ns},
				Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 2}}}}
			Expect(partner.c.Create(ctx, order)).To(Succeed())
			DeferCleanup(func() { _ = k8s.Delete(ctx, order) })
			Expect(partner.c.Patch(ctx, order, mergePatch(fmt.Sprintf(`{"spec":{"customer":%q}}`, ns)))).To(Succeed())
			Eventually(func(g Gomega) {
				p := &v1.LicensePool{}
				g.Expect(partner.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "remote-support"}, p)).To(Succeed())
				g.Expect(p.Status.Orders).To(HaveLen(1))
			}).Should(Succeed())

			expectRBACRefusal(partner.c.Create(ctx, &v1.LicensePool{ObjectMeta: objMeta(ns, "other"),
				Spec: v1.LicensePoolSpec{Product: "remote-support"}}))
			expectRBACRefusal(partner.c.Patch(ctx, &v1.LicensePool{ObjectMeta: objMeta(ns, "remote-support")}, mergePatch(`{"spec":{"seats":9}}`)))
			expectRBACRefusal(partner.c.Create(ctx, &v1.SeatAssignment{ObjectMeta: objMeta(ns, "dave"),
				Spec: v1.SeatAssignmentSpec{PoolName: "remote-support", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: "dave"}}}))
			expectRBACRefusal(partner.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "s"),
				Spec: v1.SharedSessionSpec{PoolName: "remote-support", Holder: partner.name}}))
			expectRBACRefusal(partner.c.Status().Patch(ctx, order, mergePatch(`{"status":{"phase":"Cancelled"}}`)))

			Expect(partner.c.Delete(ctx, order)).To(Succeed())
		})
	})

	Describe("supervisor", func() {
		It("grants reports and licenses in its namespace, and nothing more", func() {
			ns, elsewhere := newNamespace(), newNamespace()
			sup := user("supervisor@" + ns)
			grant(ns, "seatkeeper-supervisor", sup)

			// Everything licenses may do.
			Expect(sup.c.Create(ctx, &v1.LicensePool{ObjectMeta: objMeta(ns, "p"),
				Spec: v1.LicensePoolSpec{Product: "remote-support", Seats: int32p(1)}})).To(Succeed())

			// Grants the two roles it may bind, and they take effect.
			carol := user("carol@" + ns)
			Expect(sup.c.Create(ctx, roleBinding(ns, "carol-reports", "seatkeeper-reports", carol))).To(Succeed())
			Expect(sup.c.Create(ctx, roleBinding(ns, "carol-licenses", "seatkeeper-licenses", carol))).To(Succeed())
			Eventually(func() error {
				return carol.c.Create(ctx, &v1.SeatAssignment{ObjectMeta: objMeta(ns, "carol"),
					Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Kind: v1.AssigneeUser, Name: carol.name}}})
			}).Should(Succeed())
			Expect(sup.c.Delete(ctx, roleBinding(ns, "carol-licenses", "seatkeeper-licenses", carol))).To(Succeed())

			// Nothing else: not the built-in roles, not the other seatkeeper roles, not
			// cluster-wide, not in another namespace.
			for _, role := range []string{"cluster-admin", "admin", "edit", "view", "seatkeeper-partner", "seatkeeper-agent"} {
				By("binding " + role)
				expectRBACRefusal(sup.c.Create(ctx, roleBinding(ns, "carol-"+role, role, carol)))
			}
			expectRBACRefusal(sup.c.Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "carol-" + ns},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "seatkeeper-reports"},
				Subjects:   carol.subjects(),
			}))
			expectRBACRefusal(sup.c.Create(ctx, roleBinding(elsewhere, "carol-reports", "seatkeeper-reports", carol)))
			// Nor can it widen an existing binding of a role it may not bind.
			Expect(k8s.Create(ctx, roleBinding(ns, "ops-edit", "edit", user("ops@"+ns)))).To(Succeed())
			expectRBACRefusal(sup.c.Patch(ctx, &rbacv1.RoleBinding{ObjectMeta: objMeta(ns, "ops-edit")},
				mergePatch(fmt.Sprintf(`{"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":%q}]}`, carol.name))))
			// Nor write orders.
			expectRBACRefusal(sup.c.Create(ctx, &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "po-" + ns},
				Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "remote-support", Seats: 1}}}}))
		})
	})

	Describe("agent", func() {
		var ns string
		var agent principal
		BeforeEach(func() {
			ns = newNamespace()
			newPool(ns, "p", nil, int32p(5))
			agent = user("agent@" + ns)
			grant(ns, "seatkeeper-agent", agent)
		})

		It("creates its own session, heartbeats it, reports its state and ends it", func() {
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "mine"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: agent.name}}
			Expect(agent.c.Create(ctx, s)).To(Succeed())
			// The operator, no agent, writes the status.
			Eventually(func(g Gomega) {
				g.Expect(getSession(g, ns, "mine").Status.Phase).To(Equal(v1.SessionActive))
			}).Should(Succeed())
			// It reads its pool, for heartbeatTimeout.
			Expect(agent.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "p"}, &v1.LicensePool{})).To(Succeed())

			at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			Expect(agent.c.Status().Patch(ctx, s, client.RawPatch(types.MergePatchType,
				[]byte(`{"status":{"renewTime":"2026-11-23T12:00:00.000000Z"}}`)))).To(Succeed())
			Expect(getSession(Default, ns, "mine").Status.RenewTime.UTC()).To(Equal(at))
			Expect(agent.c.Status().Patch(ctx, s, renewPatch(time.Now()))).To(Succeed())

			Expect(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"state":"Connected","peer":"ticket-48250"}}`))).To(Succeed())
			Expect(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"terminate":true}}`))).To(Succeed())
			Eventually(func(g Gomega) {
				st := getSession(g, ns, "mine").Status
				g.Expect(st.Phase).To(Equal(v1.SessionEnded))
				g.Expect(st.EndReason).To(Equal(v1.EndTerminated))
			}).Should(Succeed())
			Expect(agent.c.Delete(ctx, s)).To(Succeed())
		})

		It("is refused on another holder's session", func() {
			expectPolicyRefusal(agent.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "theirs"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "someone-else@acme.example"}}), "own-holder")

			newSession(ns, "theirs", "p", "someone-else@acme.example")
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "theirs")}
			expectPolicyRefusal(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"state":"Connected"}}`)), "own-session")
			expectPolicyRefusal(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"terminate":true}}`)), "own-session")
			expectPolicyRefusal(agent.c.Status().Patch(ctx, s, renewPatch(time.Now())), "own-session")
			expectPolicyRefusal(agent.c.Delete(ctx, s), "own-session")
			Expect(getSession(Default, ns, "theirs").Spec.Terminate).To(BeFalse())
		})

		It("changes only state, peer and terminate in the spec of its own session", func() {
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "mine"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: agent.name}}
			Expect(agent.c.Create(ctx, s)).To(Succeed())
			newPool(ns, "q", nil, int32p(5))

			// holder and poolName are immutable for everyone (the CRD's rule answers first); the
			// policy's spec-fields rule refuses them to an agent regardless.
			expectRefusal(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"holder":"someone-else@acme.example"}}`)),
				"holder is immutable", "rule spec-fields")
			expectRefusal(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"poolName":"q"}}`)),
				"poolName is immutable", "rule spec-fields")
			// A field the CRD lets anyone change shows the policy's own refusal.
			expectPolicyRefusal(agent.c.Patch(ctx, s, mergePatch(`{"spec":{"priority":100}}`)), "spec-fields")
			err := agent.c.Patch(ctx, s, mergePatch(`{"spec":{"priority":100,"peer":"ticket-1"}}`))
			expectPolicyRefusal(err, "spec-fields")
			Expect(err.Error()).To(ContainSubstring("not spec.priority"))

			// Nor may it jump the queue when it creates a session.
			high := &v1.SharedSession{ObjectMeta: objMeta(ns, "high"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: agent.name, Priority: 10}}
			expectPolicyRefusal(agent.c.Create(ctx, high), "priority")

			got := getSession(Default, ns, "mine")
			Expect(got.Spec.Priority).To(BeZero())
			Expect(got.Spec.Peer).To(BeEmpty())
		})

		It("writes only renewTime in the status of its own session", func() {
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "mine"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: agent.name}}
			Expect(agent.c.Create(ctx, s)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(getSession(g, ns, "mine").Status.Phase).To(Equal(v1.SessionActive))
			}).Should(Succeed())

			for _, patch := range []string{
				// Schema-valid changes (a status that contradicts itself is refused before admission).
				`{"status":{"phase":"Waiting","queuePosition":1,"conditions":null}}`,
				`{"status":{"message":"granted, honest"}}`,
				`{"status":{"conditions":null}}`,
				fmt.Sprintf(`{"status":{"renewTime":%q,"endReason":"Terminated"}}`, metav1.NewMicroTime(time.Now()).Format(metav1.RFC3339Micro)),
			} {
				By(patch)
				expectPolicyRefusal(agent.c.Status().Patch(ctx, s, mergePatch(patch)), "status-fields")
			}
			// The rule looks at what changes: restating the operator's value changes nothing.
			Expect(agent.c.Status().Patch(ctx, s, mergePatch(`{"status":{"phase":"Active"}}`))).To(Succeed())
			Expect(agent.c.Status().Patch(ctx, s, renewPatch(time.Now()))).To(Succeed())
			Expect(getSession(Default, ns, "mine").Status.Phase).To(Equal(v1.SessionActive))
		})

		It("names in its refusals whom to ask", func() {
			err := agent.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "x"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "someone-else@acme.example"}})
			expectPolicyRefusal(err, "own-holder")
			Expect(err.Error()).To(ContainSubstring("seatkeeper-licenses"))
			Expect(err.Error()).To(ContainSubstring(agent.name))
		})
	})

	Describe("a pod's agent", func() {
		It("holds sessions in its pod's name, and other pods of the service account cannot touch them", func() {
			ns, elsewhere := newNamespace(), newNamespace()
			newPool(ns, "p", nil, int32p(5))
			podA := serviceAccount(ns, "render", "render-7d9f-a")
			podB := serviceAccount(ns, "render", "render-7d9f-b")
			stranger := serviceAccount(elsewhere, "render", "render-7d9f-a") // same pod name, other namespace
			grant(ns, "seatkeeper-agent", podA)                              // one binding: the service account
			Expect(k8s.Create(ctx, roleBinding(ns, "stranger", "seatkeeper-agent", stranger))).To(Succeed())
			Eventually(func() error { return stranger.c.List(ctx, &v1.LicensePoolList{}, client.InNamespace(ns)) }).Should(Succeed())

			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "render-7d9f-a"), Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "render-7d9f-a"}}
			Expect(podA.c.Create(ctx, s)).To(Succeed())
			Expect(podA.c.Status().Patch(ctx, s, renewPatch(time.Now()))).To(Succeed())
			Expect(podA.c.Patch(ctx, s, mergePatch(`{"spec":{"state":"Connected"}}`))).To(Succeed())

			expectPolicyRefusal(podB.c.Status().Patch(ctx, s, renewPatch(time.Now())), "own-session")
			expectPolicyRefusal(podB.c.Delete(ctx, s), "own-session")
			expectPolicyRefusal(podB.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "b-as-a"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "render-7d9f-a"}}), "own-holder")
			// A pod name means something only in the pod's own namespace.
			expectPolicyRefusal(stranger.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "stranger"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "render-7d9f-a"}}), "own-holder")
			expectPolicyRefusal(stranger.c.Status().Patch(ctx, s, renewPatch(time.Now())), "own-session")
			// The service account's own name is the agent too.
			Expect(podB.c.Create(ctx, &v1.SharedSession{ObjectMeta: objMeta(ns, "as-sa"),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: podB.name}})).To(Succeed())

			Expect(podA.c.Delete(ctx, s)).To(Succeed())
		})
	})

	Describe("who is not an agent", func() {
		It("exempts the operator and Kubernetes' garbage collector and namespace controller", func() {
			ns := newNamespace()
			newPool(ns, "p", nil, int32p(5))
			newSession(ns, "s", "p", "dave@acme.example")
			s := &v1.SharedSession{ObjectMeta: objMeta(ns, "s")}
			// Dry runs: admission decides as for a real write, and the session stays as it is.
			operator := serviceAccount("seatkeeper-system", "seatkeeper-controller-manager", "")
			Eventually(func() error {
				return operator.c.Status().Patch(ctx, s, mergePatch(`{"status":{"phase":"Ended","endReason":"Terminated","endedAt":"2026-11-23T12:00:00.000000Z","conditions":null}}`), client.DryRunAll)
			}).Should(Succeed())
			for _, kc := range []principal{
				serviceAccount("kube-system", "generic-garbage-collector", ""),
				serviceAccount("kube-system", "namespace-controller", ""),
			} {
				By(kc.name)
				Expect(kc.c.Delete(ctx, s, client.DryRunAll)).To(Succeed())
			}
			// A service account with the same rights but without `manage` is held to the rules.
			other := serviceAccount("kube-system", "some-controller", "")
			Expect(k8s.Create(ctx, roleBinding(ns, "some-controller", "seatkeeper-agent", other))).To(Succeed())
			Eventually(func() error { return other.c.Delete(ctx, s, client.DryRunAll) }).Should(MatchError(ContainSubstring("rule own-session")))
		})
	})
})

// principal is an identity the suite impersonates, with a client that acts as it.
type principal struct {
	name   string
	groups []string
	sa     *rbacv1.Subject // set for a service account
	c      client.Client
}

func (p principal) subjects() []rbacv1.Subject {
	if p.sa != nil {
		return []rbacv1.Subject{*p.sa}
	}
	return []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: p.name}}
}

func impersonate(name string, groups []string, extra map[string][]string) client.Client {
	GinkgoHelper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: groups, Extra: extra}
	cl, err := client.New(c, client.Options{Scheme: scheme, Mapper: k8s.RESTMapper()})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// user is a person, as an OIDC or certificate authenticator would name one.
func user(name string) principal {
	return principal{name: name, c: impersonate(name, nil, nil)}
}

// serviceAccount is a service account as the API server names it when it presents a token bound
// to pod (pod "": a token bound to no pod). Only the pod's name matters to the policy.
func serviceAccount(ns, name, pod string) principal {
	username := "system:serviceaccount:" + ns + ":" + name
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
	var extra map[string][]string
	if pod != "" {
		extra = map[string][]string{
			"authentication.kubernetes.io/pod-name": {pod},
			"authentication.kubernetes.io/pod-uid":  {"7c9e6679-7425-40de-944b-e07fc1f90ae7"},
		}
	}
	return principal{name: username, groups: groups, c: impersonate(username, groups, extra),
		sa: &rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}
}

func roleBinding(ns, name, role string, p principal) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: objMeta(ns, name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   p.subjects(),
	}
}

// grant binds a seatkeeper role to p in ns and waits until the authorizer knows it; every
// seatkeeper role lets one list pools.
func grant(ns, role string, p principal) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, roleBinding(ns, role, role, p))).To(Succeed())
	Eventually(func() error { return p.c.List(ctx, &v1.LicensePoolList{}, client.InNamespace(ns)) }).Should(Succeed())
}

// grantClusterWide binds a seatkeeper role to p in every namespace until the spec ends.
func grantClusterWide(role string, p principal) {
	GinkgoHelper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   p.subjects(),
	}
	Expect(k8s.Create(ctx, b)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(ctx, b) })
	Eventually(func() error { return p.c.List(ctx, &v1.LicensePoolList{}) }).Should(Succeed())
}

func mergePatch(body string) client.Patch {
	return client.RawPatch(types.MergePatchType, []byte(body))
}

// renewPatch is an agent's heartbeat: status.renewTime with six fractional digits.
func renewPatch(at time.Time) client.Patch {
	return mergePatch(fmt.Sprintf(`{"status":{"renewTime":%q}}`, metav1.NewMicroTime(at).Format(metav1.RFC3339Micro)))
}

// expectRBACRefusal asserts that the authorizer, not an admission policy, refused the request.
func expectRBACRefusal(err error) {
	GinkgoHelper()
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
	Expect(err.Error()).NotTo(ContainSubstring("ValidatingAdmissionPolicy"))
}

// expectPolicyRefusal asserts that seatkeeper-agent-sessions refused the request by the rule.
func expectPolicyRefusal(err error, rule string) {
	GinkgoHelper()
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden by rule %s, got %v", rule, err)
	fmt.Fprintf(GinkgoWriter, "refused: %v\n", err)
	Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy 'seatkeeper-agent-sessions'"))
	Expect(err.Error()).To(ContainSubstring("rule " + rule + ":"))
}

// expectRefusal asserts a refusal whose message has one of the given phrases.
func expectRefusal(err error, phrases ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	var anyOf []OmegaMatcher
	for _, p := range phrases {
		anyOf = append(anyOf, ContainSubstring(p))
	}
	Expect(err.Error()).To(SatisfyAny(anyOf...))
}

// installManifests creates (or updates) the objects of the given files under config/, as
// `kubectl apply` would, and deletes those it created when the container ends.
func installManifests(paths ...string) {
	GinkgoHelper()
	testenv.InstallManifests(ctx, k8s, paths...)
}

// aggregateBuiltinRoles does the work of kube-controller-manager's clusterrole-aggregation
// controller, which envtest does not run: it fills the built-in view, edit and admin roles (in
// that order, as each takes in the one before) with the rules of the ClusterRoles their
// aggregation rules select, among them the seatkeeper roles by their aggregate-to-* labels.
// The built-in roles are emptied again when the container ends.
func aggregateBuiltinRoles() {
	GinkgoHelper()
	for _, name := range []string{"view", "edit", "admin"} {
		role := &rbacv1.ClusterRole{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, role)).To(Succeed())
		Expect(role.AggregationRule).NotTo(BeNil(), name)
		before := role.Rules
		var rules []rbacv1.PolicyRule
		for _, sel := range role.AggregationRule.ClusterRoleSelectors {
			var l rbacv1.ClusterRoleList
			Expect(k8s.List(ctx, &l, client.MatchingLabels(sel.MatchLabels))).To(Succeed())
			for _, r := range l.Items {
				if r.Name != name {
					rules = append(rules, r.Rules...)
				}
			}
		}
		role.Rules = rules
		Expect(k8s.Update(ctx, role)).To(Succeed())
		DeferCleanup(func() {
			r := &rbacv1.ClusterRole{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, r)).To(Succeed())
			r.Rules = before
			Expect(k8s.Update(ctx, r)).To(Succeed())
		})
	}
}

// waitForAgentPolicy waits until the API server enforces seatkeeper-agent-sessions: it loads a
// new policy a moment after it is created.
func waitForAgentPolicy() {
	GinkgoHelper()
	ns := newNamespace()
	newPool(ns, "p", nil, int32p(1))
	probe := user("probe@" + ns)
	grant(ns, "seatkeeper-agent", probe)
	Eventually(func(g Gomega) {
		s := &v1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-"},
			Spec: v1.SharedSessionSpec{PoolName: "p", Holder: "someone-else"}}
		err := probe.c.Create(ctx, s)
		g.Expect(err).To(MatchError(ContainSubstring("rule own-holder:")))
	}).Should(Succeed())
}
