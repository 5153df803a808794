package integration

import (
	"context"
	"fmt"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/test/testenv"
)

var ctx = context.Background()

func newPool(ns, name string, seats, sessions *int32, mutate ...func(*v1.LicensePool)) *v1.LicensePool {
	p := &v1.LicensePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1.LicensePoolSpec{Product: "remote-support", Seats: seats, ConcurrentSessions: sessions},
	}
	for _, m := range mutate {
		m(p)
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

func newSeat(ns, name, pool, assignee string, kind v1.AssigneeKind) *v1.SeatAssignment {
	s := &v1.SeatAssignment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1.SeatAssignmentSpec{PoolName: pool, Assignee: v1.Assignee{Kind: kind, Name: assignee}},
	}
	Expect(k8s.Create(ctx, s)).To(Succeed())
	return s
}

func newSession(ns, name, pool, holder string, mutate ...func(*v1.SharedSession)) *v1.SharedSession {
	s := &v1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1.SharedSessionSpec{PoolName: pool, Holder: holder},
	}
	for _, m := range mutate {
		m(s)
	}
	Expect(k8s.Create(ctx, s)).To(Succeed())
	return s
}

func seatsIn(g Gomega, ns string) []v1.SeatAssignment {
	var l v1.SeatAssignmentList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

func sessionsIn(g Gomega, ns string) []v1.SharedSession {
	var l v1.SharedSessionList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

// seatPhases maps seat name to "Phase/Reason".
func seatPhases(g Gomega, ns string) map[string]string {
	out := map[string]string{}
	for _, s := range seatsIn(g, ns) {
		out[s.Name] = string(s.Status.Phase) + "/" + string(s.Status.Reason)
	}
	return out
}

func countSeats(items []v1.SeatAssignment, phase v1.SeatPhase) int {
	n := 0
	for _, s := range items {
		if s.Status.Phase == phase {
			n++
		}
	}
	return n
}

func countSessions(items []v1.SharedSession, phase v1.SessionPhase) int {
	n := 0
	for _, s := range items {
		if s.Status.Phase == phase {
			n++
		}
	}
	return n
}

func getPool(g Gomega, ns, name string) *v1.LicensePool {
	return testenv.Get[v1.LicensePool](ctx, g, k8s, ns, name)
}

func getSession(g Gomega, ns, name string) *v1.SharedSession {
	return testenv.Get[v1.SharedSession](ctx, g, k8s, ns, name)
}

func getSeat(g Gomega, ns, name string) *v1.SeatAssignment {
	return testenv.Get[v1.SeatAssignment](ctx, g, k8s, ns, name)
}

// sessionLedger reads the pool's session ledger from all its parts (the pool's status and its
// LicenseLedgers): each holder with the UID recorded for it.
func sessionLedger(g Gomega, ns, pool string) map[string]types.UID {
	parts := []*v1.Grants{}
	if l := getPool(g, ns, pool).Status.Ledger; l != nil {
		parts = append(parts, l.Sessions)
	}
	var list v1.LicenseLedgerList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	for _, p := range list.Items {
		if p.Spec.PoolName == pool {
			parts = append(parts, p.Status.Sessions)
		}
	}
	out := map[string]types.UID{}
	for _, p := range parts {
		if p == nil {
			continue
		}
		uids := p.RecordedUIDs()
		g.Expect(uids).To(HaveLen(len(p.Holders)), "every part records its holders' UIDs")
		for i, n := range p.Holders {
			out[n] = uids[i]
		}
	}
	return out
}

// patchSpec applies a JSON merge patch to an object's spec.
func patchSpec(obj client.Object, patch string) {
	Expect(k8s.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(patch)))).To(Succeed())
}

// heartbeat renews a session the way an agent does: a merge patch of status.renewTime.
func heartbeat(ns, name string) {
	Expect(patchRenewTime(ns, name)).To(Succeed())
}

func patchRenewTime(ns, name string) error {
	s := &v1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	body := fmt.Sprintf(`{"status":{"renewTime":%q}}`, metav1.NewMicroTime(time.Now()).Format(metav1.RFC3339Micro))
	return k8s.Status().Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(body)))
}

func int32p(v int32) *int32 { return ptr.To(v) }

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// eventsList reads events.k8s.io Events through the direct client.
type eventsList struct{}

func (eventsList) reasons(g Gomega, ns string) []string {
	var l eventsv1.EventList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Reason)
	}
	return out
}

// list returns the namespace's Events as "Kind/name reason: note", oldest first.
func (eventsList) list(g Gomega, ns string) []string {
	var l eventsv1.EventList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range l.Items {
		out = append(out, fmt.Sprintf("%s/%s %s: %s", e.Regarding.Kind, e.Regarding.Name, e.Reason, e.Note))
	}
	return out
}

// regarding returns the UIDs of the objects the namespace's Events with this reason are about.
func (eventsList) regarding(g Gomega, ns, reason string) []types.UID {
	var l eventsv1.EventList
	g.Expect(k8s.List(ctx, &l, client.InNamespace(ns))).To(Succeed())
	var out []types.UID
	for _, e := range l.Items {
		if e.Reason == reason {
			out = append(out, e.Regarding.UID)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

// namesListed lists objects through the direct client and returns their names.
func namesListed(ctx context.Context, list client.ObjectList, opts ...client.ListOption) []string {
	GinkgoHelper()
	Expect(k8s.List(ctx, list, opts...)).To(Succeed())
	items, err := meta.ExtractList(list)
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, o := range items {
		names = append(names, o.(client.Object).GetName())
	}
	return names
}
