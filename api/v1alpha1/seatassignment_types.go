package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AssigneeKind says who a seat is for.
// +kubebuilder:validation:Enum=User;Device
type AssigneeKind string

const (
	// AssigneeUser is a person: a technician, by user name or e-mail.
	AssigneeUser AssigneeKind = "User"
	// AssigneeDevice is an unattended machine or registered client.
	AssigneeDevice AssigneeKind = "Device"
)

// Assignee is the person or device a seat is for.
type Assignee struct {
	// kind is User (a technician) or Device (an unattended machine or registered client).
	// Immutable.
	// +optional
	// +default="User"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="assignee.kind is immutable: create a new SeatAssignment for another kind of assignee"
	Kind AssigneeKind `json:"kind,omitempty"`
	// name is the user name, e-mail or device id. Immutable; no leading or trailing spaces. A
	// pool gives one seat per assignee: a User's name that looks like an e-mail address (it has
	// an @) is compared without regard to case (Alice@Acme.example is alice@acme.example), other
	// names and device ids exactly.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self == self.trim()",message="assignee.name must not start or end with a space: write the name alone, e.g. alice@acme.example"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="assignee.name is immutable: create a new SeatAssignment for another assignee"
	Name string `json:"name,omitempty"`
}

// SeatAssignmentSpec asks for one named seat of a pool for one assignee.
type SeatAssignmentSpec struct {
	// poolName is the LicensePool, in this namespace, the seat comes from. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="poolName must be a pool's name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. remote-support"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="poolName is immutable: create a new SeatAssignment for another pool"
	PoolName string `json:"poolName,omitempty"`
	// assignee is who the seat is for.
	// +required
	Assignee Assignee `json:"assignee,omitzero"`
	// enabled is the on/off toggle: false frees the seat and keeps this record.
	// +optional
	// +default=true
	Enabled *bool `json:"enabled,omitempty"`
}

// SeatPhase is where a SeatAssignment stands.
// +kubebuilder:validation:Enum=Pending;Bound;Disabled
type SeatPhase string

const (
	// SeatPending waits for a seat; status.reason says why.
	SeatPending SeatPhase = "Pending"
	// SeatBound holds a seat.
	SeatBound SeatPhase = "Bound"
	// SeatDisabled is switched off (spec.enabled: false) and holds nothing.
	SeatDisabled SeatPhase = "Disabled"
)

// SeatReason explains a SeatAssignment's phase.
// +kubebuilder:validation:Enum=SeatGranted;LicensesNotAvailable;PoolNotFound;PoolExpired;DuplicateAssignee;ManagedExternally;CapacityReduced;Disabled;WriteRefused;GroupLimitReached
type SeatReason string

const (
	SeatReasonGranted              SeatReason = "SeatGranted"
	SeatReasonLicensesNotAvailable SeatReason = "LicensesNotAvailable"
	SeatReasonPoolNotFound         SeatReason = "PoolNotFound"
	SeatReasonPoolExpired          SeatReason = "PoolExpired"
	SeatReasonDuplicateAssignee    SeatReason = "DuplicateAssignee"
	SeatReasonManagedExternally    SeatReason = "ManagedExternally"
	SeatReasonCapacityReduced      SeatReason = "CapacityReduced"
	SeatReasonDisabled             SeatReason = "Disabled"
	// SeatReasonGroupLimitReached: the assignee's group holds all the seats its maxSeats allows.
	SeatReasonGroupLimitReached SeatReason = "GroupLimitReached"
	// SeatReasonWriteRefused: a seat is free, but the API server refused a write the grant
	// needs (the pool's ledger, say); the pool's Ready condition says which and why.
	SeatReasonWriteRefused SeatReason = "WriteRefused"
)

// SeatAssignmentStatus says whether the assignee holds a seat, and why not.
type SeatAssignmentStatus struct {
	// conditions are Bound and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is Pending, Bound or Disabled.
	// +optional
	Phase SeatPhase `json:"phase,omitempty"`
	// reason is a one-word cause of the phase.
	// +optional
	Reason SeatReason `json:"reason,omitempty"`
	// message explains the phase, naming the pool and its numbers.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Message string `json:"message,omitempty"`
	// boundAt is when the seat was granted.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= timestamp('1970-01-01T00:00:00Z')",message="boundAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"
	BoundAt *metav1.Time `json:"boundAt,omitempty"`
}

// SeatAssignment gives a named seat of a LicensePool to one user or device.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=seat,categories=licensing
// +kubebuilder:selectablefield:JSONPath=`.spec.poolName`
// +kubebuilder:selectablefield:JSONPath=`.spec.assignee.name`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.poolName`
// +kubebuilder:printcolumn:name="Assignee",type=string,JSONPath=`.spec.assignee.name`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.assignee.kind`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.spec.enabled`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Bound At",type=date,JSONPath=`.status.boundAt`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
type SeatAssignment struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the seat asked for.
	// +required
	Spec SeatAssignmentSpec `json:"spec,omitzero"`
	// status says whether it is held.
	// +optional
	Status SeatAssignmentStatus `json:"status,omitzero"`
}

// SeatAssignmentList is a list of SeatAssignments.
// +kubebuilder:object:root=true
type SeatAssignmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SeatAssignment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SeatAssignment{}, &SeatAssignmentList{})
}
