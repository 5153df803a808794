package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/google/go-cmp/cmp"
	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
)

func TestStillHolds(t *testing.T) {
	now := metav1.Now()
	sess := func(pool string, phase v1alpha1.SessionPhase, deleting bool) *v1alpha1.SharedSession {
		s := &v1alpha1.SharedSession{Spec: v1alpha1.SharedSessionSpec{PoolName: pool}, Status: v1alpha1.SharedSessionStatus{Phase: phase}}
		if deleting {
			s.DeletionTimestamp = &now
		}
		return s
	}
	tests := []struct {
		name string
		obj  *v1alpha1.SharedSession
		want bool
	}{
		{"the cache has not seen it yet", sess("p", v1alpha1.SessionActive, false), true},
		{"recreated under the same name for another pool", sess("q", v1alpha1.SessionActive, false), false},
		{"being deleted, already ended", sess("p", v1alpha1.SessionEnded, true), false},
		{"being deleted, still Active", sess("p", v1alpha1.SessionActive, true), true},
	}
	for _, tc := range tests {
		if got := stillHolds(tc.obj, "p"); got != tc.want {
			t.Errorf("%s: stillHolds = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLedgerUIDs(t *testing.T) {
	cached := map[string]types.UID{"a": "uid-a", "b": "uid-b2"}
	tests := []struct {
		name   string
		ledger v1alpha1.Grants
		// names the allocator sees; holders the cache cannot vouch for, with nothing deleted
		// and with "uid-c" reported deleted by the watch
		names              []string
		unsure, unsureGone []string
	}{
		{"ledger from before UIDs: names are trusted", v1alpha1.Grants{Holders: []string{"a", "b", "c"}},
			[]string{"a", "b", "c"}, []string{"c"}, []string{"c"}},
		{"same UIDs", grants([]string{"a", "b"}, "uid-a", "uid-b2"),
			[]string{"a", "b"}, nil, nil},
		{"b recreated: the old grant is not the new b's", grants([]string{"a", "b"}, "uid-a", "uid-b1"),
			[]string{"a"}, []string{"b"}, []string{"b"}},
		{"c missing from the cache; deleted by the watch's word", grants([]string{"a", "c"}, "uid-a", "uid-c"),
			[]string{"a", "c"}, []string{"c"}, nil},
		{"an older operator replaced b by c and left the UIDs: all are known by name", v1alpha1.Grants{Holders: []string{"a", "c"}, UIDs: []types.UID{"uid-a", "uid-b2"}, UIDsFor: v1alpha1.HoldersHash([]string{"a", "b"})},
			[]string{"a", "c"}, []string{"c"}, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ledgerNames(&tc.ledger, cached); !cmp.Equal(got, tc.names) {
				t.Errorf("ledgerNames = %v, want %v", got, tc.names)
			}
			var m poolMemory
			if got := entryNames(unsure(&tc.ledger, cached, m.isDeleted)); !cmp.Equal(got, tc.unsure) {
				t.Errorf("unsure = %v, want %v", got, tc.unsure)
			}
			m.objectDeleted(&v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{UID: "uid-c"}}, t0)
			if got := entryNames(unsure(&tc.ledger, cached, m.isDeleted)); !cmp.Equal(got, tc.unsureGone) {
				t.Errorf("unsure with uid-c deleted = %v, want %v", got, tc.unsureGone)
			}
		})
	}
}

func TestLedgerGrants(t *testing.T) {
	old := grants([]string{"a", "x"}, "uid-a-old", "uid-x")
	got := ledgerGrants([]string{"a", "b", "x", "y"}, &old, map[string]types.UID{"a": "uid-a", "b": "uid-b"})
	want := grants([]string{"a", "b", "x", "y"}, "uid-a", "uid-b", "uid-x", "")
	if !cmp.Equal(got, &want) {
		t.Errorf("ledgerGrants = %+v, want %+v (the cache's UID first, then the old ledger's, else unknown)", got, want)
	}
	if got := ledgerGrants([]string{}, nil, nil); got.UIDs != nil || got.Holders == nil {
		t.Errorf("an empty ledger = %+v, want empty holders and no uids", got)
	}
}
