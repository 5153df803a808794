package controllers

import (
	"fmt"
	"time"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func mt(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

// noWaits is the memory of quiet waits of an operator that has noted none.
func noWaits(types.UID) (time.Time, bool) { return time.Time{}, false }

func micro(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(t0.Add(d)); return &t }

// grants builds a ledger list whose uids were recorded for its holders.
func grants(holders []string, uids ...types.UID) v1alpha1.Grants {
	return v1alpha1.Grants{Holders: holders, UIDs: uids, UIDsFor: v1alpha1.HoldersHash(holders)}
}

func entryNames(es []ledgerEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.name)
	}
	return out
}

// eventLog is a recorder that keeps what it is asked to record.
type eventLog struct{ events []string }

func (l *eventLog) Eventf(regarding, _ runtime.Object, typ, reason, action, note string, args ...any) {
	o := regarding.(client.Object)
	l.events = append(l.events, fmt.Sprintf("%T %s: %s %s %s", o, o.GetName(), typ, reason, fmt.Sprintf(note, args...)))
}

func (l *eventLog) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, typ, reason, action, note string, args ...any) {
	l.Eventf(regarding, related, typ, reason, action, note, args...)
}
