// Package cachetransform slims the objects the operator's informer cache holds.
package cachetransform

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// New is the informer cache's transform for the operator: it drops managedFields,
// which the operator never reads, and lets the seats and sessions it caches share the strings
// they repeat. Each object decoded from the API server brings its own copy of its namespace,
// pool name, kind, phase and condition types and reasons, and its conditions repeat its status
// message; at 20,000 cached sessions those copies were a tenth of the operator's memory.
func New() toolscache.TransformFunc {
	strip := cache.TransformStripManagedFields()
	return func(obj any) (any, error) {
		obj, err := strip(obj)
		if err != nil {
			return obj, err
		}
		switch o := obj.(type) {
		case *v1alpha1.SharedSession:
			shareMeta(&o.TypeMeta, &o.ObjectMeta)
			o.Spec.PoolName = share(o.Spec.PoolName)
			o.Spec.State = v1alpha1.SessionState(share(string(o.Spec.State)))
			o.Status.Phase = v1alpha1.SessionPhase(share(string(o.Status.Phase)))
			o.Status.EndReason = v1alpha1.EndReason(share(string(o.Status.EndReason)))
			o.Status.ObservedState = v1alpha1.SessionState(share(string(o.Status.ObservedState)))
			shareConditions(o.Status.Conditions, o.Status.Message)
		case *v1alpha1.SeatAssignment:
			shareMeta(&o.TypeMeta, &o.ObjectMeta)
			o.Spec.PoolName = share(o.Spec.PoolName)
			o.Status.Phase = v1alpha1.SeatPhase(share(string(o.Status.Phase)))
			o.Status.Reason = v1alpha1.SeatReason(share(string(o.Status.Reason)))
			shareConditions(o.Status.Conditions, o.Status.Message)
		}
		return obj, nil
	}
}

// maxShared bounds the table of shared strings. The values are few (kinds, phases, reasons,
// and the namespaces and pool names in use); past the bound, new ones are simply not shared,
// so names that come and go cannot make the table grow for ever.
const maxShared = 4096

var shared = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// share returns the shared copy of s.
func share(s string) string {
	if s == "" {
		return s
	}
	shared.Lock()
	defer shared.Unlock()
	if c, ok := shared.m[s]; ok {
		return c
	}
	if len(shared.m) < maxShared {
		shared.m[s] = s
	}
	return s
}

func shareMeta(t *metav1.TypeMeta, m *metav1.ObjectMeta) {
	t.APIVersion, t.Kind = share(t.APIVersion), share(t.Kind)
	m.Namespace = share(m.Namespace)
}

// shareConditions shares the conditions' type, status and reason, and their message with the
// status message when they say the same.
func shareConditions(conds []metav1.Condition, message string) {
	for i := range conds {
		c := &conds[i]
		c.Type, c.Status, c.Reason = share(c.Type), metav1.ConditionStatus(share(string(c.Status))), share(c.Reason)
		if c.Message == message {
			c.Message = message
		}
	}
}
