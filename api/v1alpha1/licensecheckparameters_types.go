package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Well-known names of the Kueue admission check.
const (
	// KueueCheckControllerName is the spec.controllerName of the Kueue AdmissionChecks that
	// seatkeeper answers: a Workload's check is Ready once its licences are granted.
	KueueCheckControllerName = "licensing.seatkeeper.io/license"
	// WorkloadPoolAnnotation on a Kueue Workload names the pool its licences come from,
	// overriding the check's LicenseCheckParameters.spec.poolName.
	WorkloadPoolAnnotation = PodPoolAnnotation
	// WorkloadLicensesAnnotation on a Kueue Workload is how many licences each of its pods
	// needs, as a decimal ("2"), overriding spec.licensesPerPod. The Workload's session takes
	// this times its pods.
	WorkloadLicensesAnnotation = PodLicensesAnnotation
)

// LicenseCheckParametersSpec says which licences a Kueue Workload needs before it is admitted.
type LicenseCheckParametersSpec struct {
	// poolName is the LicensePool, in each Workload's own namespace, that its licences come
	// from. The annotation licensing.seatkeeper.io/pool on a Workload overrides it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="poolName must be the name of a LicensePool: lower-case letters, digits, '-' and '.'"
	PoolName string `json:"poolName,omitempty"`
	// licensesPerPod is how many shared licences each pod of a Workload needs; the Workload
	// takes this times its pods, all or none. The annotation licensing.seatkeeper.io/licenses
	// on a Workload overrides it.
	// +optional
	// +default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	LicensesPerPod int32 `json:"licensesPerPod,omitempty"`
}

// LicenseCheckParametersStatus reports whether the parameters are in use.
type LicenseCheckParametersStatus struct {
	// conditions has Ready: True once seatkeeper has read this generation.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// LicenseCheckParameters are the parameters of a Kueue AdmissionCheck whose controllerName is
// licensing.seatkeeper.io/license (spec.parameters: apiGroup licensing.seatkeeper.io, kind
// LicenseCheckParameters), in the manner of Kueue's ProvisioningRequestConfig: they say which
// pool a Workload's licences come from and how many each pod needs. Kueue keeps deciding quota;
// seatkeeper takes the licences in a SharedSession owned by the Workload and sets the check.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=lcp,categories=licensing
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.poolName`
// +kubebuilder:printcolumn:name="Per pod",type=integer,JSONPath=`.spec.licensesPerPod`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LicenseCheckParameters struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which licences a Workload needs.
	// +required
	Spec LicenseCheckParametersSpec `json:"spec,omitzero"`
	// status reports whether seatkeeper has read them.
	// +optional
	Status LicenseCheckParametersStatus `json:"status,omitzero"`
}

// LicenseCheckParametersList is a list of LicenseCheckParameters.
// +kubebuilder:object:root=true
type LicenseCheckParametersList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicenseCheckParameters `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LicenseCheckParameters{}, &LicenseCheckParametersList{})
}
