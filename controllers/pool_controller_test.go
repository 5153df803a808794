package controllers

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/allocator"
)

// The helpers of this file are shared by the tests that run passes on a fake API server
// (pool_apply_test.go, pool_snapshot_test.go, ledger_ahead_test.go).

// testNS is the namespace of every object of these tests.
const testNS = "acme"

// fakeAPI is a fake API server holding objs, with the status subresource of every kind, the
// cache indexes setupIndexes registers, and its calls intercepted by funcs.
func fakeAPI(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatalf("build the scheme: %v", err)
	}
	return fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&v1alpha1.LicensePool{}, &v1alpha1.SeatAssignment{}, &v1alpha1.SharedSession{}, &v1alpha1.CustomerOrder{}, &v1alpha1.LicenseLedger{}).
		WithObjects(objs...).
		WithIndex(&v1alpha1.SeatAssignment{}, indexPoolName, func(o client.Object) []string {
			return []string{o.(*v1alpha1.SeatAssignment).Spec.PoolName}
		}).
		WithIndex(&v1alpha1.SharedSession{}, indexPoolName, func(o client.Object) []string {
			return []string{o.(*v1alpha1.SharedSession).Spec.PoolName}
		}).
		WithIndex(&v1alpha1.LicenseLedger{}, indexPoolName, func(o client.Object) []string {
			return []string{o.(*v1alpha1.LicenseLedger).Spec.PoolName}
		}).
		WithIndex(&v1alpha1.CustomerOrder{}, indexOrderCustomer, func(o client.Object) []string {
			return []string{o.(*v1alpha1.CustomerOrder).Spec.Customer}
		}).
		WithIndex(&v1alpha1.CustomerOrder{}, indexOrderPool, func(o client.Object) []string {
			return orderPoolKeys(o.(*v1alpha1.CustomerOrder))
		}).
		WithInterceptorFuncs(funcs).
		Build()
}

// testReconciler is a pool reconciler on the fixed clock t0, writing through c and reading
// around the cache through reader.
func testReconciler(c client.Client, reader client.Reader) (*PoolReconciler, *eventLog) {
	log := &eventLog{}
	return &PoolReconciler{Client: c, APIReader: reader, Clock: clocktesting.NewFakePassiveClock(t0), Recorder: log, laneInline: true}, log
}

func poolKey(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: testNS, Name: name}}
}

// testPool is a pool of limit shared licences (and unlimited seats) that has never been
// reconciled.
func testPool(name string, limit int32) *v1alpha1.LicensePool {
	return &v1alpha1.LicensePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, UID: types.UID("uid-" + name), Generation: 1, CreationTimestamp: *mt(-time.Hour)},
		Spec:       v1alpha1.LicensePoolSpec{Product: "rs", ConcurrentSessions: ptr.To(limit)},
	}
}

// withSessionLedger records holders (with their test UIDs) as the pool's session ledger.
func withSessionLedger(p *v1alpha1.LicensePool, holders ...string) *v1alpha1.LicensePool {
	uids := make([]types.UID, len(holders))
	for i, h := range holders {
		uids[i] = types.UID("uid-" + h)
	}
	g := grants(holders, uids...)
	if len(holders) == 0 {
		g = v1alpha1.Grants{}
	}
	p.Status.Ledger = &v1alpha1.Ledger{Sessions: &g}
	return p
}

// testSession is a session created 10s before t0 that has no status yet.
func testSession(name, pool string) *v1alpha1.SharedSession {
	return &v1alpha1.SharedSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, UID: types.UID("uid-" + name), Generation: 1, CreationTimestamp: *mt(-10 * time.Second)},
		Spec:       v1alpha1.SharedSessionSpec{PoolName: pool, Holder: name + "@acme.example"},
	}
}

// activeSession is a session granted a minute before t0, with a recent heartbeat.
func activeSession(name, pool string) *v1alpha1.SharedSession {
	s := testSession(name, pool)
	s.CreationTimestamp = *mt(-2 * time.Minute)
	s.Status = v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionActive,
		GrantedAt: micro(-time.Minute), RenewTime: micro(-5 * time.Second)}
	return s
}

// waitingSession is a session announced as first in the queue.
func waitingSession(name, pool string) *v1alpha1.SharedSession {
	s := testSession(name, pool)
	s.Status = v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionWaiting, QueuePosition: 1}
	return s
}

// writeLog records the writes a fake API server receives, in the order it receives them, as
// "status session a", "check pool p" (a status patch that carries only the resourceVersion),
// "delete session a"; and fails the writes to the objects it is told to with a conflict
// (recorded with ": conflict").
type writeLog struct {
	mu       sync.Mutex
	writes   []string
	conflict map[string]bool
}

// conflictOn makes the writes to these objects ("pool p", "session b") fail from now on.
func (l *writeLog) conflictOn(objs ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conflict = map[string]bool{}
	for _, o := range objs {
		l.conflict[o] = true
	}
}

// take returns the writes recorded so far, and forgets them.
func (l *writeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

func (l *writeLog) record(verb string, obj client.Object) error {
	what := objectName(obj)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conflict[what] {
		l.writes = append(l.writes, verb+" "+what+": conflict")
		return apierrors.NewConflict(schema.GroupResource{Group: v1alpha1.GroupVersion.Group}, obj.GetName(), errors.New("injected by the test"))
	}
	l.writes = append(l.writes, verb+" "+what)
	return nil
}

func (l *writeLog) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		// Status writes are updates of the status; a patch of it sends a resourceVersion
		// alone (checkVersion).
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if err := l.record(sub, obj); err != nil {
				return err
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			verb := sub
			if data, err := patch.Data(obj); err == nil && !bytes.Contains(data, []byte(`"status"`)) {
				verb = "check"
			}
			if err := l.record(verb, obj); err != nil {
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := l.record("patch", obj); err != nil {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := l.record("update", obj); err != nil {
				return err
			}
			return c.Update(ctx, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := l.record("create", obj); err != nil {
				return err
			}
			return c.Create(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if err := l.record("delete", obj); err != nil {
				return err
			}
			return c.Delete(ctx, obj, opts...)
		},
	}
}

// objectName names an object in a writeLog: "pool p", "seat s", "session a", "order o".
func objectName(obj client.Object) string {
	kind := "object"
	switch obj.(type) {
	case *v1alpha1.LicensePool:
		kind = "pool"
	case *v1alpha1.SeatAssignment:
		kind = "seat"
	case *v1alpha1.SharedSession:
		kind = "session"
	case *v1alpha1.CustomerOrder:
		kind = "order"
	case *v1alpha1.LicenseLedger:
		kind = "part"
	}
	return kind + " " + obj.GetName()
}

// sessionView is what the tests check of a session's status.
type sessionView struct {
	Phase     v1alpha1.SessionPhase
	EndReason v1alpha1.EndReason
	GrantedAt *time.Time
}

// sessionsIn reads the sessions a fake API server holds, by name.
func sessionsIn(t *testing.T, c client.Reader) map[string]sessionView {
	t.Helper()
	var list v1alpha1.SharedSessionList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatalf("list sessions: %v", err)
	}
	out := map[string]sessionView{}
	for _, s := range list.Items {
		v := sessionView{Phase: s.Status.Phase, EndReason: s.Status.EndReason}
		if s.Status.GrantedAt != nil {
			v.GrantedAt = &s.Status.GrantedAt.Time
		}
		out[s.Name] = v
	}
	return out
}

// poolIn reads a pool from a fake API server; nil when it does not exist.
func poolIn(t *testing.T, c client.Reader, name string) *v1alpha1.LicensePool {
	t.Helper()
	p := &v1alpha1.LicensePool{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatalf("get pool %s: %v", name, err)
	}
	return p
}

func TestReconcile(t *testing.T) {
	granted := sessionView{Phase: v1alpha1.SessionActive, GrantedAt: &t0}
	sessionLedger := func(holders ...string) *v1alpha1.Ledger {
		return withSessionLedger(&v1alpha1.LicensePool{}, holders...).Status.Ledger
	}
	tests := []struct {
		name string
		pool string // the pool reconciled
		// cache builds what the cache holds (and the API server too); apiOnly what only the
		// API server holds, the cache not having caught up with it yet.
		cache, apiOnly func() []client.Object
		want           ctrl.Result
		writes         []string // sorted: claimants are written in parallel
		sessions       map[string]sessionView
		ledger         *v1alpha1.Ledger // the pool's, after the pass
		events         []string
	}{
		{
			name: "two licences, three new sessions: two granted in the ledger, the third's wait held back",
			pool: "p",
			cache: func() []client.Object {
				return []client.Object{testPool("p", 2), testSession("a", "p"), testSession("b", "p"), testSession("c", "p")}
			},
			want:     ctrl.Result{RequeueAfter: announceWaitAfter + deadlineSlack},
			writes:   []string{"status pool p", "status session a", "status session b"},
			sessions: map[string]sessionView{"a": granted, "b": granted, "c": {}},
			ledger:   sessionLedger("a", "b"),
			events: []string{
				"*v1alpha1.LicensePool p: Warning SessionsExhausted every shared licence is in use (2/2), 1 waiting",
				"*v1alpha1.LicensePool p: Normal Granted 2 sessions of pool p: a, b",
			},
		},
		{
			name: "a session naming a pool the API server confirms missing ends PoolNotFound",
			pool: "gone",
			cache: func() []client.Object {
				return []client.Object{testSession("s", "gone")}
			},
			want:     ctrl.Result{RequeueAfter: allocator.DefaultPolicy.RetainEnded + deadlineSlack},
			writes:   []string{"status session s"},
			sessions: map[string]sessionView{"s": {Phase: v1alpha1.SessionEnded, EndReason: v1alpha1.EndPoolNotFound}},
			events:   []string{"*v1alpha1.SharedSession s: Warning PoolNotFound pool gone does not exist in this namespace"},
		},
		{
			name: "a pool the cache has not seen yet but the API server has: its session is left alone",
			pool: "p",
			cache: func() []client.Object {
				return []client.Object{testSession("s", "p")}
			},
			apiOnly:  func() []client.Object { return []client.Object{testPool("p", 1)} },
			want:     ctrl.Result{RequeueAfter: cacheDelay},
			sessions: map[string]sessionView{"s": {}},
		},
		{
			name:     "no pool and no claimants: nothing to do",
			pool:     "p",
			cache:    func() []client.Object { return nil },
			want:     ctrl.Result{},
			sessions: map[string]sessionView{},
		},
		{
			name: "two grants make one Event, on the pool",
			pool: "p",
			cache: func() []client.Object {
				return []client.Object{testPool("p", 3), testSession("a", "p"), testSession("b", "p")}
			},
			// The next deadline is the sessions' heartbeat: created 10s ago, timeout 60s.
			want:     ctrl.Result{RequeueAfter: allocator.DefaultPolicy.HeartbeatTimeout - 10*time.Second + deadlineSlack},
			writes:   []string{"status pool p", "status session a", "status session b"},
			sessions: map[string]sessionView{"a": granted, "b": granted},
			ledger:   sessionLedger("a", "b"),
			events:   []string{"*v1alpha1.LicensePool p: Normal Granted 2 sessions of pool p: a, b"},
		},
		{
			name: "an ended session past its retention is deleted",
			pool: "p",
			cache: func() []client.Object {
				old := testSession("old", "p")
				old.CreationTimestamp = *mt(-26 * time.Hour)
				old.Status = v1alpha1.SharedSessionStatus{ObservedGeneration: 1, Phase: v1alpha1.SessionEnded,
					EndReason: v1alpha1.EndTerminated, EndedAt: micro(-25 * time.Hour)}
				return []client.Object{testPool("p", 1), old}
			},
			want:     ctrl.Result{},
			writes:   []string{"delete session old", "status pool p"},
			sessions: map[string]sessionView{},
			ledger:   sessionLedger(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log writeLog
			cache := fakeAPI(t, log.funcs(), tc.cache()...)
			var reader client.Reader = cache
			if tc.apiOnly != nil {
				reader = fakeAPI(t, interceptor.Funcs{}, append(tc.cache(), tc.apiOnly()...)...)
			}
			r, events := testReconciler(cache, reader)

			got, err := r.Reconcile(context.Background(), poolKey(tc.pool))
			if err != nil {
				t.Fatalf("Reconcile failed: %v", err)
			}
			if got != tc.want {
				t.Errorf("Reconcile returned %+v, want %+v", got, tc.want)
			}
			writes := log.take()
			slices.Sort(writes)
			if diff := cmp.Diff(tc.writes, writes); diff != "" {
				t.Errorf("writes of the pass (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.sessions, sessionsIn(t, cache)); diff != "" {
				t.Errorf("sessions after the pass (-want +got):\n%s", diff)
			}
			if p := poolIn(t, cache, tc.pool); p != nil {
				if diff := cmp.Diff(tc.ledger, p.Status.Ledger); diff != "" {
					t.Errorf("the pool's ledger after the pass (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.events, events.events); diff != "" {
				t.Errorf("events of the pass (-want +got):\n%s", diff)
			}
			// The watch must take what the pass wrote for the echo of its own writes (which
			// starts no pass), and nothing else.
			var pools v1alpha1.LicensePoolList
			var sessions v1alpha1.SharedSessionList
			if err := cache.List(context.Background(), &pools); err != nil {
				t.Fatal(err)
			}
			if err := cache.List(context.Background(), &sessions); err != nil {
				t.Fatal(err)
			}
			objs := []client.Object{}
			for i := range pools.Items {
				objs = append(objs, &pools.Items[i])
			}
			for i := range sessions.Items {
				objs = append(objs, &sessions.Items[i])
			}
			for _, o := range objs {
				written := slices.Contains(writes, "status "+objectName(o))
				if echo := r.memory.isEcho(o); echo != written {
					t.Errorf("%s: written by the pass %v, but its state taken for our echo %v", objectName(o), written, echo)
				}
			}

			// What the pass wrote is what it decided: a second pass at the same time has
			// nothing left to write.
			again, err := r.Reconcile(context.Background(), poolKey(tc.pool))
			if w := log.take(); len(w) != 0 || err != nil {
				t.Errorf("a second pass wrote %v (error %v, result %+v), want nothing", w, err, again)
			}
		})
	}
}
