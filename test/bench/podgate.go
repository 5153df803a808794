package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// podgateResult is the pod gate's latency against free licences: from the return of the Create
// of a Pod that carries seatkeeper's scheduling gate and pool annotation to the moment a
// watching client first sees the Pod without that gate. In between, the operator hears of the
// Pod, creates its SharedSession, grants it and patches the gate away: three writes in series.
// The control plane has no scheduler or kubelet, so nothing runs and the Pod stays Pending;
// the figure is seatkeeper's share only, as the kueue phase's is.
type podgateResult struct {
	Pods int `json:"pods"`
	// Ungate is Pod created → gate removed seen; RatioP50 and RatioP99 compare it with the
	// baseline's create+status-update round trip.
	Ungate   summary `json:"createToGateRemoved"`
	RatioP50 float64 `json:"ratioP50"`
	RatioP99 float64 `json:"ratioP99"`
	// The parts, for context: Pod created → its session seen Active, and session Active seen
	// → gate removed seen (two watches, so the second can be slightly negative).
	ToActive   summary `json:"createToSessionActive"`
	ActiveToUn summary `json:"sessionActiveToGateRemoved"`
	// What the operator did per Pod: API writes and reads (GETs).
	WritesPerPod float64 `json:"writesPerPod"`
	ReadsPerPod  float64 `json:"readsPerPod"`
	// WritesByMethod splits the writes per Pod by "METHOD code".
	WritesByMethod map[string]float64 `json:"writesByMethod"`
}

const (
	podgateNS   = "bench-podgate"
	podgatePool = "free"
)

// podGateLatency creates a pool with a licence for every Pod, then Pods with seatkeeper's
// scheduling gate and the pool annotation, one at a time once the operator is idle, and times
// each from its Create's return to the gate's removal seen on a watch.
func (b *bench) podGateLatency(ctx context.Context, base baselineResult) (res podgateResult, err error) {
	n := b.cfg.sizes.PodGatePods
	res.Pods = n
	if n <= 0 {
		return res, errors.New("no pods to time")
	}
	defer b.podgateCleanup()
	if err := createNamespace(ctx, b.load, podgateNS); err != nil {
		return res, err
	}
	// Without the controller manager nobody creates the namespace's default ServiceAccount,
	// which the ServiceAccount admission plugin wants to find for every Pod.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: podgateNS, Name: "default"}}
	if err := b.load.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return res, fmt.Errorf("create ServiceAccount: %w", err)
	}
	pods, err := observePods(ctx, b.load, podgateNS)
	if err != nil {
		return res, err
	}
	sessions, err := observeSessions(ctx, b.load, podgateNS, false)
	if err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(podgateNS, podgatePool, limit(n+10), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}

	var ungate, toActive, activeToUn []time.Duration
	var before usage
	for i := -3; i < n; i++ { // three to warm up
		if err := b.op.waitIdle(ctx, settle); err != nil {
			return res, err
		}
		if i == 0 {
			if before, err = b.op.usage(ctx); err != nil {
				return res, err
			}
		}
		p := gatedPod(podgateNS, fmt.Sprintf("pod-%05d", i+3), podgatePool)
		if err := b.load.Create(ctx, p); err != nil {
			return res, fmt.Errorf("create Pod %s: %w", p.Name, err)
		}
		created := time.Now()
		gone, err := pods.wait(ctx, p.Name)
		if err != nil {
			return res, err
		}
		active, err := sessions.wait(ctx, "pod-"+p.Name, v1alpha1.SessionActive)
		if err != nil {
			return res, fmt.Errorf("session of Pod %s: %w", p.Name, err)
		}
		if i >= 0 {
			ungate = append(ungate, gone.Sub(created))
			toActive = append(toActive, active.Sub(created))
			activeToUn = append(activeToUn, gone.Sub(active))
		}
	}
	d, err := b.op.usedSince(ctx, before)
	if err != nil {
		return res, err
	}
	res.WritesPerPod, res.ReadsPerPod = d.Writes/float64(n), d.Reads/float64(n)
	res.WritesByMethod = d.writesPer(n)
	res.Ungate, res.ToActive, res.ActiveToUn = summarize(ungate), summarize(toActive), summarize(activeToUn)
	res.RatioP50 = ratio(res.Ungate.P50, base.RoundTrip.P50)
	res.RatioP99 = ratio(res.Ungate.P99, base.RoundTrip.P99)
	b.logf("podgate: Pod created → gate removed p50 %s, p99 %s (p99 %.1f× the round trip)", fmtMs(res.Ungate.P50), fmtMs(res.Ungate.P99), res.RatioP99)
	return res, nil
}

// gatedPod is a Pod of one container (nothing runs it) held back by seatkeeper's scheduling
// gate until pool grants it one licence.
func gatedPod(ns, name, pool string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations: map[string]string{v1alpha1.PodPoolAnnotation: pool}},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SchedulingGates: []corev1.PodSchedulingGate{{Name: v1alpha1.PodSchedulingGate}},
			Containers:      []corev1.Container{{Name: "job", Image: "busybox"}},
		},
	}
}

// podgateCleanup deletes the Pods while the operator still runs (it ends their sessions),
// waits for them to go, then empties the namespace. Pods that were never bound to a node go at
// once. Best effort, on its own context, like cleanup.
func (b *bench) podgateCleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.load.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(podgateNS), client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		b.logf("delete Pods: %v", err)
	}
	for ctx.Err() == nil {
		var list corev1.PodList
		if err := b.load.List(ctx, &list, client.InNamespace(podgateNS)); err != nil || len(list.Items) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.cleanup(podgateNS)
}

// podObserver watches the Pods of one namespace and notes when it first saw each without
// seatkeeper's scheduling gate. The benchmark creates every Pod with the gate, so any version
// seen without it comes after the operator's patch.
type podObserver struct {
	mu     sync.Mutex
	tracks map[string]*podTrack
}

type podTrack struct {
	ungated time.Time
	changed chan struct{} // closed when ungated is first set
}

func observePods(ctx context.Context, c client.WithWatch, ns string) (*podObserver, error) {
	o := &podObserver{tracks: map[string]*podTrack{}}
	err := watchList(ctx, c, &corev1.PodList{}, ns, func(typ watch.EventType, obj client.Object) {
		if typ != watch.Deleted {
			o.record(obj.(*corev1.Pod))
		}
	})
	return o, err
}

func (o *podObserver) record(p *corev1.Pod) {
	now := time.Now()
	if slices.ContainsFunc(p.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == v1alpha1.PodSchedulingGate }) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.trackOf(p.Name)
	if t.ungated.IsZero() {
		t.ungated = now
		close(t.changed)
	}
}

func (o *podObserver) trackOf(name string) *podTrack {
	t := o.tracks[name]
	if t == nil {
		t = &podTrack{changed: make(chan struct{})}
		o.tracks[name] = t
	}
	return t
}

// wait returns when the observer first saw Pod name without seatkeeper's gate.
func (o *podObserver) wait(ctx context.Context, name string) (time.Time, error) {
	o.mu.Lock()
	t := o.trackOf(name)
	o.mu.Unlock()
	select {
	case <-t.changed:
		o.mu.Lock()
		defer o.mu.Unlock()
		return t.ungated, nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-time.After(30 * time.Second):
		return time.Time{}, fmt.Errorf("Pod %s still gated after 30s (see operator.log)", name)
	}
}
