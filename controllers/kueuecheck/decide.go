package kueuecheck

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// request is what one Workload asks of seatkeeper: count licences of pool, all or none.
type request struct {
	pool  string
	count int32
}

// requestOf reads the Workload's request: the pool from its annotation or the parameters, the
// licences per pod likewise (default 1), times its pods. A request that can never be valid
// is an error whose text is the check's Rejected message.
func requestOf(wl *kueue.Workload, params *v1alpha1.LicenseCheckParameters) (request, error) {
	req := request{}
	perPod := int64(1)
	if params != nil {
		req.pool = params.Spec.PoolName
		if params.Spec.LicensesPerPod > 0 {
			perPod = int64(params.Spec.LicensesPerPod)
		}
	}
	if p := strings.TrimSpace(wl.Annotations[v1alpha1.WorkloadPoolAnnotation]); p != "" {
		req.pool = p
	}
	if req.pool == "" {
		return req, fmt.Errorf("no licence pool: set the annotation %s on the Workload, or spec.parameters on the AdmissionCheck", v1alpha1.WorkloadPoolAnnotation)
	}
	if v, ok := wl.Annotations[v1alpha1.WorkloadLicensesAnnotation]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > v1alpha1.MaxSessionCount {
			return req, fmt.Errorf("annotation %s is %q: it must be a whole number of licences per pod from 1 to %d, e.g. \"2\"", v1alpha1.WorkloadLicensesAnnotation, v, v1alpha1.MaxSessionCount)
		}
		perPod = int64(n)
	}
	total := perPod * int64(podsOf(wl))
	if total > v1alpha1.MaxSessionCount {
		return req, fmt.Errorf("the Workload needs %d licences (%d per pod × %d pods), more than the %d one session may take", total, perPod, podsOf(wl), v1alpha1.MaxSessionCount)
	}
	req.count = int32(max(total, 1))
	return req, nil
}

// podsOf counts the Workload's pods: those quota was reserved for when Kueue has admitted
// it (fewer than asked only with partial admission), else those its pod sets ask for.
func podsOf(wl *kueue.Workload) int32 {
	var n int32
	if wl.Status.Admission != nil && len(wl.Status.Admission.PodSetAssignments) > 0 {
		counts := map[kueue.PodSetReference]int32{}
		for _, ps := range wl.Spec.PodSets {
			counts[ps.Name] = ps.Count
		}
		for _, a := range wl.Status.Admission.PodSetAssignments {
			if a.Count != nil {
				n += *a.Count
			} else {
				n += counts[a.Name]
			}
		}
		return n
	}
	for _, ps := range wl.Spec.PodSets {
		n += ps.Count
	}
	return n
}

// wantsLicences is true while the Workload holds quota and runs or may run: reserved, active,
// neither evicted, finished nor being deleted. Otherwise its licences go back.
func wantsLicences(wl *kueue.Workload) bool {
	if wl == nil || !wl.DeletionTimestamp.IsZero() {
		return false
	}
	if wl.Spec.Active != nil && !*wl.Spec.Active {
		return false
	}
	c := wl.Status.Conditions
	return apimeta.IsStatusConditionTrue(c, kueue.WorkloadQuotaReserved) &&
		!apimeta.IsStatusConditionTrue(c, kueue.WorkloadEvicted) &&
		!apimeta.IsStatusConditionTrue(c, kueue.WorkloadFinished)
}

// attempt numbers the Workload's tries at running: each eviction (a Retry of ours included)
// starts a new one, and each try takes its licences in a session of its own.
func attempt(wl *kueue.Workload) int32 {
	var n int32
	if wl.Status.SchedulingStats != nil {
		for _, e := range wl.Status.SchedulingStats.Evictions {
			n += e.Count
		}
	}
	return n
}

// verdict is the check state a Workload should show, and whether its session must be created.
type verdict struct {
	state   kueue.CheckState
	message string
	create  bool
}

// rejectedEnds are the ways a session ends that a new try could not change.
var rejectedEnds = map[v1alpha1.EndReason]bool{
	v1alpha1.EndPoolNotFound: true, v1alpha1.EndPoolExpired: true, v1alpha1.EndRejected: true, v1alpha1.EndNotEntitled: true,
}

// decide is the check's state for one try of a Workload, from its request, the pool (nil when
// missing) and the try's session (nil before it is created). It makes no client calls.
func decide(req request, reqErr error, pool *v1alpha1.LicensePool, sess *v1alpha1.SharedSession, now time.Time) verdict {
	if reqErr != nil {
		return verdict{state: kueue.CheckStateRejected, message: reqErr.Error()}
	}
	if sess != nil {
		switch sess.Status.Phase {
		case v1alpha1.SessionActive:
			return verdict{state: kueue.CheckStateReady, message: fmt.Sprintf("%s of pool %s granted (session %s)", licences(sess.Spec.Count), sess.Spec.PoolName, sess.Name)}
		case v1alpha1.SessionEnded:
			msg := fmt.Sprintf("session %s ended (%s): %s", sess.Name, sess.Status.EndReason, sess.Status.Message)
			if rejectedEnds[sess.Status.EndReason] {
				return verdict{state: kueue.CheckStateRejected, message: msg}
			}
			return verdict{state: kueue.CheckStateRetry, message: msg}
		}
	}
	if pool == nil {
		return verdict{state: kueue.CheckStateRejected, message: fmt.Sprintf("licence pool %s does not exist in this namespace", req.pool)}
	}
	if pool.Spec.ExpiresAt != nil && !now.Before(pool.Spec.ExpiresAt.Time) {
		return verdict{state: kueue.CheckStateRejected, message: fmt.Sprintf("licence pool %s expired at %s", req.pool, pool.Spec.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	if pool.Status.ObservedGeneration > 0 && pool.Status.Sessions.Limit != nil && req.count > *pool.Status.Sessions.Limit {
		return verdict{state: kueue.CheckStateRejected, message: fmt.Sprintf("the Workload needs %s, more than pool %s has (%d)", licences(req.count), req.pool, *pool.Status.Sessions.Limit)}
	}
	if sess == nil {
		return verdict{state: kueue.CheckStatePending, message: fmt.Sprintf("asking pool %s for %s", req.pool, licences(req.count)), create: true}
	}
	msg := sess.Status.Message
	if msg == "" {
		msg = fmt.Sprintf("waiting for %s of pool %s (session %s)", licences(req.count), req.pool, sess.Name)
	}
	return verdict{state: kueue.CheckStatePending, message: msg}
}

func licences(n int32) string {
	if n == 1 {
		return "1 licence"
	}
	return fmt.Sprintf("%d licences", n)
}
