package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// observer watches the SharedSessions of one namespace and notes when it first saw each
// session in each phase: the benchmark's clock for "granted" is the moment a watching client
// learns of it, as an agent waiting on a watch would. It also counts the updates it sees,
// which in a run where the benchmark only creates and deletes are the operator's writes.
type observer struct {
	mu       sync.Mutex
	sessions map[string]*track
	modified int
}

// track is what the observer knows of one session.
type track struct {
	seen      map[v1alpha1.SessionPhase]time.Time
	endReason v1alpha1.EndReason
	grantedAt time.Time               // status.grantedAt: when the operator decided the grant
	last      *v1alpha1.SharedSession // only when the observer keeps objects
	changed   chan struct{}           // closed and replaced when a phase is first seen
}

// observeSessions starts watching ns until ctx ends. With keep, the newest version of each
// session is kept for sessionsSeen.
func observeSessions(ctx context.Context, c client.WithWatch, ns string, keep bool) (*observer, error) {
	o := &observer{sessions: map[string]*track{}}
	err := watchList(ctx, c, &v1alpha1.SharedSessionList{}, ns, func(typ watch.EventType, obj client.Object) {
		o.record(typ, obj.(*v1alpha1.SharedSession), keep)
	})
	return o, err
}

func (o *observer) record(typ watch.EventType, s *v1alpha1.SharedSession, keep bool) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if typ == watch.Modified {
		o.modified++
	}
	t := o.trackOf(s.Name)
	if keep {
		t.last = s
	}
	phase := s.Status.Phase
	if typ == watch.Deleted || phase == "" {
		return
	}
	// Granted is read from the condition, as `kubectl wait --for=condition=Granted` does; it
	// is set in the same write as phase Active.
	if phase == v1alpha1.SessionActive && !meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionGranted) {
		return
	}
	if _, ok := t.seen[phase]; ok {
		return
	}
	t.seen[phase] = now
	t.endReason = s.Status.EndReason
	if g := s.Status.GrantedAt; g != nil && phase == v1alpha1.SessionActive {
		t.grantedAt = g.Time
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

func (o *observer) trackOf(name string) *track {
	t := o.sessions[name]
	if t == nil {
		t = &track{seen: map[v1alpha1.SessionPhase]time.Time{}, changed: make(chan struct{})}
		o.sessions[name] = t
	}
	return t
}

// wait returns when the observer first saw session name in phase. A session that ends while
// waiting for another phase is an error that names its end reason.
func (o *observer) wait(ctx context.Context, name string, phase v1alpha1.SessionPhase) (time.Time, error) {
	for {
		o.mu.Lock()
		t := o.trackOf(name)
		at, ok := t.seen[phase]
		_, ended := t.seen[v1alpha1.SessionEnded]
		reason, changed := t.endReason, t.changed
		o.mu.Unlock()
		switch {
		case ok:
			return at, nil
		case ended:
			return time.Time{}, fmt.Errorf("session %s ended (%s) before it was %s", name, reason, phase)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for session %s to be %s: %w", name, phase, ctx.Err())
		case <-changed:
		}
	}
}

// decidedAt is the session's status.grantedAt as the watch first showed it Active: the time the
// operator's allocator decided the grant (its clock is this machine's).
func (o *observer) decidedAt(name string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.trackOf(name).grantedAt
}

// saw reports whether the observer saw session name in phase.
func (o *observer) saw(name string, phase v1alpha1.SessionPhase) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.trackOf(name).seen[phase]
	return ok
}

// modifiedSoFar is the number of updates seen.
func (o *observer) modifiedSoFar() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.modified
}

// kept returns the newest version seen of each session (observers started with keep).
func (o *observer) kept() []*v1alpha1.SharedSession {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]*v1alpha1.SharedSession, 0, len(o.sessions))
	for _, t := range o.sessions {
		if t.last != nil {
			out = append(out, t.last)
		}
	}
	return out
}

// updateCounter counts the updates to one kind of object in a namespace.
type updateCounter struct {
	mu sync.Mutex
	n  int
}

func countUpdates(ctx context.Context, c client.WithWatch, list client.ObjectList, ns string) (*updateCounter, error) {
	u := &updateCounter{}
	err := watchList(ctx, c, list, ns, func(typ watch.EventType, _ client.Object) {
		if typ == watch.Modified {
			u.mu.Lock()
			u.n++
			u.mu.Unlock()
		}
	})
	return u, err
}

func (u *updateCounter) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// watchList lists ns and then watches it from the list's resourceVersion until ctx ends,
// handing every event to handle (the listed objects as Added). When the watch closes it
// resumes from the last resourceVersion, or lists again when that is too old. It returns once
// the first watch is established, so nothing created after it returns is missed.
func watchList(ctx context.Context, c client.WithWatch, list client.ObjectList, ns string, handle func(watch.EventType, client.Object)) error {
	relist := func() (string, error) {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return "", err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return "", err
		}
		for _, it := range items {
			handle(watch.Added, it.(client.Object))
		}
		return l.GetResourceVersion(), nil
	}
	open := func(rv string) (watch.Interface, error) {
		l := list.DeepCopyObject().(client.ObjectList)
		return c.Watch(ctx, l, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
	}
	rv, err := relist()
	if err != nil {
		return fmt.Errorf("list %T in %s: %w", list, ns, err)
	}
	w, err := open(rv)
	if err != nil {
		return fmt.Errorf("watch %T in %s: %w", list, ns, err)
	}
	go func() {
		for ctx.Err() == nil {
			for ev := range w.ResultChan() {
				switch ev.Type {
				case watch.Error:
					if apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) || apierrors.IsGone(apierrors.FromObject(ev.Object)) {
						rv = ""
					}
				case watch.Bookmark:
					if obj, ok := ev.Object.(client.Object); ok {
						rv = obj.GetResourceVersion()
					}
				default:
					obj := ev.Object.(client.Object)
					rv = obj.GetResourceVersion()
					handle(ev.Type, obj)
				}
			}
			w.Stop()
			for ctx.Err() == nil {
				if rv == "" {
					if rv, err = relist(); err != nil {
						rv = ""
						time.Sleep(100 * time.Millisecond)
						continue
					}
				}
				if w, err = open(rv); err == nil {
					break
				}
				rv = ""
				time.Sleep(100 * time.Millisecond)
			}
		}
		if w != nil {
			w.Stop()
		}
	}()
	return nil
}
