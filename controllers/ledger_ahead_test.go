package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestLedgerAhead(t *testing.T) {
	// x is the ledger's holder the cache does not show; the API server may hold a session x.
	x := func(uid types.UID, pool string) client.Object {
		s := activeSession("x", pool)
		s.UID = uid
		return s
	}
	sessions := func(g v1alpha1.Grants) v1alpha1.Ledger { return v1alpha1.Ledger{Sessions: &g} }
	recorded := sessions(grants([]string{"x"}, "uid-x"))
	tests := []struct {
		name    string
		ledger  *v1alpha1.Ledger
		cached  holderUIDs      // the snapshot's claimants
		deleted []types.UID     // claimants the watch reported deleted
		server  []client.Object // what the API server holds
		readErr error           // the error the API server's reads fail with
		want    bool
		wantErr bool
		reads   int32 // reads around the cache
	}{
		{name: "no ledger: nothing to check", want: false, reads: 0},
		{name: "the cache shows the holder under the UID recorded: no read",
			ledger: &recorded, cached: holderUIDs{sessions: map[string]types.UID{"x": "uid-x"}}, want: false, reads: 0},
		{name: "the API server has it, same UID, for this pool: the ledger is ahead of the cache",
			ledger: &recorded, server: []client.Object{x("uid-x", "p")}, want: true, reads: 1},
		{name: "the API server does not have it: gone, not ahead",
			ledger: &recorded, want: false, reads: 1},
		{name: "it exists under another UID than the ledger recorded: recreated, not ahead",
			ledger: &recorded, server: []client.Object{x("uid-x2", "p")}, want: false, reads: 1},
		{name: "the cache shows another UID, the API server the recorded one: ahead",
			ledger: &recorded, cached: holderUIDs{sessions: map[string]types.UID{"x": "uid-x0"}},
			server: []client.Object{x("uid-x", "p")}, want: true, reads: 1},
		{name: "a ledger from before UIDs, and a session of that name for another pool: not ahead",
			ledger: ptr.To(sessions(v1alpha1.Grants{Holders: []string{"x"}})), server: []client.Object{x("uid-x2", "q")}, want: false, reads: 1},
		{name: "a ledger from before UIDs, and a session of that name for this pool: ahead",
			ledger: ptr.To(sessions(v1alpha1.Grants{Holders: []string{"x"}})), server: []client.Object{x("uid-x2", "p")}, want: true, reads: 1},
		{name: "the watch reported its UID deleted: gone, and no read is made",
			ledger: &recorded, deleted: []types.UID{"uid-x"}, server: []client.Object{x("uid-x", "p")}, want: false, reads: 0},
		{name: "a seat the cache does not show yet: ahead",
			ledger: &v1alpha1.Ledger{Seats: ptr.To(grants([]string{"s"}, "uid-s"))},
			server: []client.Object{&v1alpha1.SeatAssignment{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "s", UID: "uid-s"},
				Spec:       v1alpha1.SeatAssignmentSpec{PoolName: "p", Assignee: v1alpha1.Assignee{Name: "s@acme.example"}},
			}}, want: true, reads: 1},
		{name: "a read that fails otherwise than NotFound: the error is returned",
			ledger: &recorded, readErr: apierrors.NewServiceUnavailable("etcd is down"), wantErr: true, reads: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reads atomic.Int32
			server := fakeAPI(t, interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					reads.Add(1)
					if tc.readErr != nil {
						return tc.readErr
					}
					return c.Get(ctx, key, obj, opts...)
				},
			}, tc.server...)
			r, _ := testReconciler(nil, server)
			for _, uid := range tc.deleted {
				r.memory.objectDeleted(&v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: uid}}, t0.Add(-time.Second))
			}
			pool := testPool("p", 1)
			pool.Status.Ledger = tc.ledger
			got, err := r.ledgerAhead(context.Background(), pool, readParts(pool, nil), tc.cached)
			switch {
			case tc.wantErr && err == nil:
				t.Errorf("ledgerAhead = %v, want the read's error", got)
			case !tc.wantErr && err != nil:
				t.Errorf("ledgerAhead failed: %v", err)
			case got != tc.want:
				t.Errorf("ledgerAhead = %v, want %v", got, tc.want)
			}
			if n := reads.Load(); n != tc.reads {
				t.Errorf("%d reads around the cache, want %d", n, tc.reads)
			}
		})
	}
}

// TestPassWaitsForTheLedger checks that a pass whose ledger names a holder its cache has not
// seen yet decides nothing, and looks again after cacheDelay: deciding on that cache would
// drop x's grant and hand its licence to b.
func TestPassWaitsForTheLedger(t *testing.T) {
	var log writeLog
	cache := fakeAPI(t, log.funcs(), withSessionLedger(testPool("p", 1), "x"), testSession("b", "p"))
	server := fakeAPI(t, interceptor.Funcs{}, withSessionLedger(testPool("p", 1), "x"), testSession("b", "p"), activeSession("x", "p"))
	r, _ := testReconciler(cache, server)
	got, err := r.Reconcile(context.Background(), poolKey("p"))
	if want := (ctrl.Result{RequeueAfter: cacheDelay}); got != want || err != nil {
		t.Errorf("Reconcile = %+v, %v; want %+v and no error", got, err, want)
	}
	if w := log.take(); len(w) != 0 {
		t.Errorf("a pass behind the ledger wrote %v", w)
	}
}
