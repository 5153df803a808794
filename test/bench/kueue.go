package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// kueueResult is seatkeeper's share of admitting a Kueue Workload against free licences: from
// the moment a watching client first sees the Workload with QuotaReserved=True (Kueue's part
// is done) to the moment it first sees seatkeeper's admission check Ready in
// status.admissionChecks. In between, the operator hears of the reservation, creates the
// Workload's SharedSession, grants it and writes the check's state: three writes in series.
type kueueResult struct {
	Workloads int `json:"workloads"`
	// Check is QuotaReserved seen → check Ready seen; RatioP50 and RatioP99 compare it with
	// the baseline's create+status-update round trip.
	Check    summary `json:"quotaReservedToCheckReady"`
	RatioP50 float64 `json:"ratioP50"`
	RatioP99 float64 `json:"ratioP99"`
	// Kueue's parts, for context: create → QuotaReserved seen, check Ready → Admitted seen.
	ToQuota    summary `json:"createToQuotaReserved"`
	ToAdmitted summary `json:"checkReadyToAdmitted"`
	// What the operator did per Workload: API writes and reads (GETs).
	WritesPerWorkload float64 `json:"writesPerWorkload"`
	ReadsPerWorkload  float64 `json:"readsPerWorkload"`
	// WritesByMethod splits the writes per Workload by "METHOD code".
	WritesByMethod map[string]float64 `json:"writesByMethod"`
}

const (
	kueueNS     = "bench-kueue"
	kueueCheck  = "bench-license"
	kueueParams = "bench-one-per-pod"
	kueueCQ     = "bench"
	kueueLQ     = "bench"
	kueuePool   = "free"
	kueueFlavor = "bench"
)

// kueueAssets is $KUEUE_ASSETS when it holds minimalkueue and Kueue's CRDs, else what
// hack/kueue-assets.sh provides (building minimalkueue the first time, 3 to 6 minutes).
func kueueAssets(root string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "hack", "kueue-assets.sh"))
	cmd.Dir, cmd.Stderr = root, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/kueue-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// kueueProcess is minimalkueue (Kueue's core controllers and scheduler, no webhooks and no
// job integration) running as a child process against the control plane.
type kueueProcess struct {
	cmd  *exec.Cmd
	done chan error
}

func startKueue(bin, kubeconfig, logPath string) (*kueueProcess, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--zap-log-level=2")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start minimalkueue: %w", err)
	}
	k := &kueueProcess{cmd: cmd, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		k.done <- err
	}()
	return k, nil
}

func (k *kueueProcess) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-k.done:
	case <-time.After(15 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

// kueueCheckLatency starts minimalkueue, sets up one ClusterQueue with quota to spare whose
// only admission check is seatkeeper's, and a pool with a licence for every Workload. It then
// creates Workloads of one pod needing one licence, one at a time once the operator is idle,
// and times each from QuotaReserved seen to the check Ready seen, on a watch.
func (b *bench) kueueCheckLatency(ctx context.Context, base baselineResult) (res kueueResult, err error) {
	n := b.cfg.sizes.KueueWorkloads
	res.Workloads = n
	if b.kueue == "" {
		return res, errors.New("Kueue's CRDs were not installed at start-up")
	}
	kq, err := startKueue(filepath.Join(b.kueue, "minimalkueue"), b.cp.kubeconfig, filepath.Join(b.work, "minimalkueue.log"))
	if err != nil {
		return res, err
	}
	defer func() {
		b.kueueCleanup()
		kq.stop()
	}()
	if err := createNamespace(ctx, b.load, kueueNS); err != nil {
		return res, err
	}
	obs, err := observeWorkloads(ctx, b.load, kueueNS)
	if err != nil {
		return res, err
	}
	if err := b.kueueQueues(ctx, n+10); err != nil {
		return res, err
	}
	if err := b.load.Create(ctx, pool(kueueNS, kueuePool, limit(n+10), v1alpha1.SessionPolicy{})); err != nil {
		return res, fmt.Errorf("create pool: %w", err)
	}
	if err := waitClusterQueueActive(ctx, b.load); err != nil {
		return res, err
	}

	var checks, toQuota, toAdmitted []time.Duration
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
		wl := workload(kueueNS, fmt.Sprintf("wl-%05d", i+3))
		start := time.Now()
		if err := b.load.Create(ctx, wl); err != nil {
			return res, fmt.Errorf("create Workload %s: %w", wl.Name, err)
		}
		t, err := obs.wait(ctx, wl.Name)
		if err != nil {
			return res, err
		}
		if i >= 0 {
			checks = append(checks, t.ready.Sub(t.quota))
			toQuota = append(toQuota, t.quota.Sub(start))
			toAdmitted = append(toAdmitted, t.admitted.Sub(t.ready))
		}
	}
	d, err := b.op.usedSince(ctx, before)
	if err != nil {
		return res, err
	}
	res.WritesPerWorkload, res.ReadsPerWorkload = d.Writes/float64(n), d.Reads/float64(n)
	res.WritesByMethod = d.writesPer(n)
	res.Check, res.ToQuota, res.ToAdmitted = summarize(checks), summarize(toQuota), summarize(toAdmitted)
	res.RatioP50 = ratio(res.Check.P50, base.RoundTrip.P50)
	res.RatioP99 = ratio(res.Check.P99, base.RoundTrip.P99)
	b.logf("kueue: QuotaReserved → check Ready p50 %s, p99 %s (p99 %.1f× the round trip)", fmtMs(res.Check.P50), fmtMs(res.Check.P99), res.RatioP99)
	return res, nil
}

// kueueQueues creates the check's parameters, a ResourceFlavor, seatkeeper's AdmissionCheck,
// a ClusterQueue of quota cpus that requires it, and the namespace's LocalQueue.
func (b *bench) kueueQueues(ctx context.Context, quota int) error {
	objs := []client.Object{
		&v1alpha1.LicenseCheckParameters{
			ObjectMeta: metav1.ObjectMeta{Name: kueueParams},
			Spec:       v1alpha1.LicenseCheckParametersSpec{PoolName: kueuePool, LicensesPerPod: 1},
		},
		&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: kueueFlavor}},
		&kueue.AdmissionCheck{
			ObjectMeta: metav1.ObjectMeta{Name: kueueCheck},
			Spec: kueue.AdmissionCheckSpec{
				ControllerName: v1alpha1.KueueCheckControllerName,
				Parameters:     &kueue.AdmissionCheckParametersReference{APIGroup: v1alpha1.GroupVersion.Group, Kind: "LicenseCheckParameters", Name: kueueParams},
			},
		},
		&kueue.ClusterQueue{
			ObjectMeta: metav1.ObjectMeta{Name: kueueCQ},
			Spec: kueue.ClusterQueueSpec{
				NamespaceSelector: &metav1.LabelSelector{},
				ResourceGroups: []kueue.ResourceGroup{{
					CoveredResources: []corev1.ResourceName{corev1.ResourceCPU},
					Flavors: []kueue.FlavorQuotas{{Name: kueueFlavor, Resources: []kueue.ResourceQuota{
						{Name: corev1.ResourceCPU, NominalQuota: *resource.NewQuantity(int64(quota), resource.DecimalSI)},
					}}},
				}},
				AdmissionChecksStrategy: &kueue.AdmissionChecksStrategy{
					AdmissionChecks: []kueue.AdmissionCheckStrategyRule{{Name: kueueCheck}},
				},
			},
		},
		&kueue.LocalQueue{
			ObjectMeta: metav1.ObjectMeta{Namespace: kueueNS, Name: kueueLQ},
			Spec:       kueue.LocalQueueSpec{ClusterQueue: kueueCQ},
		},
	}
	for _, o := range objs {
		if err := b.load.Create(ctx, o); err != nil {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// waitClusterQueueActive waits for Kueue to mark the ClusterQueue Active, which it does once
// seatkeeper has marked its AdmissionCheck Active.
func waitClusterQueueActive(ctx context.Context, c client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		cq := &kueue.ClusterQueue{}
		err := c.Get(ctx, client.ObjectKey{Name: kueueCQ}, cq)
		if err == nil && apimeta.IsStatusConditionTrue(cq.Status.Conditions, kueue.ClusterQueueActive) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ClusterQueue %s not Active (is seatkeeper's check enabled? see operator.log and minimalkueue.log): %w", kueueCQ, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// workload is a Workload of one pod asking for one cpu in the bench LocalQueue, as a job
// integration would create for a Job of one pod.
func workload(ns, name string) *kueue.Workload {
	return &kueue.Workload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kueue.WorkloadSpec{
			QueueName: kueueLQ,
			PodSets: []kueue.PodSet{{
				Name: "main", Count: 1,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "job", Image: "busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
				}},
			}},
		},
	}
}

// kueueCleanup deletes the Workloads while Kueue and the operator still run (their finalizers
// and sessions are theirs to remove), waits for them to go, empties the namespace and deletes
// the queue objects. Best effort, on its own context, like cleanup.
func (b *bench) kueueCleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.load.DeleteAllOf(ctx, &kueue.Workload{}, client.InNamespace(kueueNS)); err != nil && !apierrors.IsNotFound(err) {
		b.logf("delete Workloads: %v", err)
	}
	for ctx.Err() == nil {
		var list kueue.WorkloadList
		if err := b.load.List(ctx, &list, client.InNamespace(kueueNS)); err != nil || len(list.Items) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.cleanup(kueueNS)
	for _, o := range []client.Object{
		&kueue.LocalQueue{ObjectMeta: metav1.ObjectMeta{Namespace: kueueNS, Name: kueueLQ}},
		&kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: kueueCQ}},
		&kueue.AdmissionCheck{ObjectMeta: metav1.ObjectMeta{Name: kueueCheck}},
		&kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: kueueFlavor}},
		&v1alpha1.LicenseCheckParameters{ObjectMeta: metav1.ObjectMeta{Name: kueueParams}},
	} {
		if err := b.load.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			b.logf("delete %T %s: %v", o, o.GetName(), err)
		}
	}
}

// wlObserver watches the Workloads of one namespace and notes when it first saw each with
// QuotaReserved=True, with the bench check Ready, and Admitted=True.
type wlObserver struct {
	mu     sync.Mutex
	tracks map[string]*wlTrack
}

type wlTrack struct {
	quota, ready, admitted time.Time
	changed                chan struct{} // closed and replaced when something is first seen
}

func observeWorkloads(ctx context.Context, c client.WithWatch, ns string) (*wlObserver, error) {
	o := &wlObserver{tracks: map[string]*wlTrack{}}
	err := watchList(ctx, c, &kueue.WorkloadList{}, ns, func(typ watch.EventType, obj client.Object) {
		if typ != watch.Deleted {
			o.record(obj.(*kueue.Workload))
		}
	})
	return o, err
}

func (o *wlObserver) record(wl *kueue.Workload) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.trackOf(wl.Name)
	changed := false
	if t.quota.IsZero() && apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadQuotaReserved) {
		t.quota, changed = now, true
	}
	if t.ready.IsZero() {
		for _, st := range wl.Status.AdmissionChecks {
			if st.Name == kueueCheck && st.State == kueue.CheckStateReady {
				t.ready, changed = now, true
			}
		}
	}
	if t.admitted.IsZero() && apimeta.IsStatusConditionTrue(wl.Status.Conditions, kueue.WorkloadAdmitted) {
		t.admitted, changed = now, true
	}
	if changed {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

func (o *wlObserver) trackOf(name string) *wlTrack {
	t := o.tracks[name]
	if t == nil {
		t = &wlTrack{changed: make(chan struct{})}
		o.tracks[name] = t
	}
	return t
}

// wait returns the Workload's times once it has been seen reserved, Ready and Admitted.
func (o *wlObserver) wait(ctx context.Context, name string) (wlTrack, error) {
	timeout := time.After(30 * time.Second)
	for {
		o.mu.Lock()
		t := o.trackOf(name)
		snap, ch := *t, t.changed
		o.mu.Unlock()
		if !snap.quota.IsZero() && !snap.ready.IsZero() && !snap.admitted.IsZero() {
			return snap, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return snap, ctx.Err()
		case <-timeout:
			return snap, fmt.Errorf("Workload %s not admitted within 30s (QuotaReserved seen: %v, check Ready seen: %v)", name, !snap.quota.IsZero(), !snap.ready.IsZero())
		}
	}
}
