package cachetransform

import (
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestCacheTransformShares(t *testing.T) {
	decoded := func() *v1alpha1.SharedSession {
		// Built from fresh byte slices, as a decoder would: no string shares memory yet.
		fresh := func(s string) string { return string([]byte(s)) }
		msg := fresh("alice holds a shared licence of pool p")
		return &v1alpha1.SharedSession{
			TypeMeta:   metav1.TypeMeta{APIVersion: fresh("licensing.seatkeeper.io/v1alpha1"), Kind: fresh("SharedSession")},
			ObjectMeta: metav1.ObjectMeta{Namespace: fresh("acme"), Name: fresh("s"), ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
			Spec:       v1alpha1.SharedSessionSpec{PoolName: fresh("p"), Holder: fresh("alice")},
			Status: v1alpha1.SharedSessionStatus{Phase: v1alpha1.SessionPhase(fresh("Active")), Message: msg, Conditions: []metav1.Condition{
				{Type: fresh("Granted"), Status: metav1.ConditionStatus(fresh("True")), Reason: fresh("Granted"), Message: fresh(msg)},
			}},
		}
	}
	a, b := decoded(), decoded()
	want := a.DeepCopy()
	want.ManagedFields = nil
	tr := New()
	for _, o := range []*v1alpha1.SharedSession{a, b} {
		if _, err := tr(o); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("the transform changed more than managedFields (-want +got):\n%s", diff)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	for _, c := range []struct {
		what string
		x, y string
	}{
		{"namespace", a.Namespace, b.Namespace},
		{"kind", a.Kind, b.Kind},
		{"pool name", a.Spec.PoolName, b.Spec.PoolName},
		{"phase", string(a.Status.Phase), string(b.Status.Phase)},
		{"condition reason", a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
		{"condition message and status message", a.Status.Conditions[0].Message, a.Status.Message},
	} {
		if !same(c.x, c.y) {
			t.Errorf("%s: not shared", c.what)
		}
	}
}
