package podgate

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

func TestPodSessionName(t *testing.T) {
	tests := []struct {
		pod, want string
	}{
		{"render-0", "pod-render-0"},
		{strings.Repeat("x", 249), "pod-" + strings.Repeat("x", 249)},
		{strings.Repeat("x", 300), "pod-" + strings.Repeat("x", 249)}, // cut to a name's 253 characters
	}
	for _, tt := range tests {
		if got := podSessionName(tt.pod); got != tt.want {
			t.Errorf("podSessionName(%d characters) = %d characters, want %d", len(tt.pod), len(got), len(tt.want))
		}
	}
}

func TestPodState(t *testing.T) {
	gate := corev1.PodSchedulingGate{Name: v1alpha1.PodSchedulingGate}
	other := corev1.PodSchedulingGate{Name: "example.com/other"}
	now := metav1.Now()
	tests := []struct {
		name             string
		pod              corev1.Pod
		gated, finishedP bool
	}{
		{name: "gated and pending", pod: corev1.Pod{Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{other, gate}}}, gated: true},
		{name: "another system's gate only", pod: corev1.Pod{Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{other}}}},
		{name: "running", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}},
		{name: "succeeded", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, finishedP: true},
		{name: "failed", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, finishedP: true},
		{name: "being deleted", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, finishedP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasGate(&tt.pod); got != tt.gated {
				t.Errorf("hasGate = %v, want %v", got, tt.gated)
			}
			if got := finished(&tt.pod); got != tt.finishedP {
				t.Errorf("finished = %v, want %v", got, tt.finishedP)
			}
		})
	}
}

func TestOwnedBy(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "render-0", UID: "pod-uid"}}
	owned := func(uid types.UID) *v1alpha1.SharedSession {
		return &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "Pod", Name: "render-0", UID: uid}}}}
	}
	tests := []struct {
		name string
		sess *v1alpha1.SharedSession
		pod  *corev1.Pod
		want bool
	}{
		{"the pod's own session", owned("pod-uid"), pod, true},
		{"a pod of the same name created again", owned("older-uid"), pod, false},
		{"the pod is gone", owned("pod-uid"), nil, false},
		{"a session nobody owns", &v1alpha1.SharedSession{}, pod, false},
	}
	for _, tt := range tests {
		if got := ownedBy(tt.sess, tt.pod); got != tt.want {
			t.Errorf("%s: ownedBy = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPodOfSession(t *testing.T) {
	labelled := &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "pod-render-0", Labels: map[string]string{SessionLabel: "render-0"}}}
	if got := podOfSession(context.Background(), labelled); len(got) != 1 || got[0].NamespacedName != (types.NamespacedName{Namespace: "acme", Name: "render-0"}) {
		t.Errorf("a pod's session maps to %v, want acme/render-0", got)
	}
	if got := podOfSession(context.Background(), &v1alpha1.SharedSession{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "agent-1"}}); got != nil {
		t.Errorf("a session not taken for a pod maps to %v, want nothing", got)
	}
}

func TestLicensesOf(t *testing.T) {
	tests := []struct {
		annotations map[string]string
		want        int32
		wantErr     bool
	}{
		{annotations: nil, want: 1},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: "4"}, want: 4},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: " 2 "}, want: 2},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: "1024"}, want: 1024},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: "0"}, wantErr: true},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: "1025"}, wantErr: true},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: "four"}, wantErr: true},
		{annotations: map[string]string{v1alpha1.PodLicensesAnnotation: ""}, wantErr: true},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tt.annotations}}
		got, err := licensesOf(pod)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("licensesOf(%v) = %d, %v; want %d (error: %v)", tt.annotations, got, err, tt.want, tt.wantErr)
		}
	}
}
