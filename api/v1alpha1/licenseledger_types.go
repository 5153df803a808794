package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LedgerPartSize is how many holders of each kind one part of a pool's ledger lists at most:
// part k holds the grants from k×LedgerPartSize up to the limit. With names of the longest
// length Kubernetes allows, and their UIDs, a part of both kinds stays under etcd's default
// request size limit (1.5 MiB).
const LedgerPartSize = 2048

// LicenseLedgerSpec names the pool and the part of its ledger an object holds.
type LicenseLedgerSpec struct {
	// poolName is the LicensePool, in this namespace, whose ledger this is a part of. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="poolName is immutable"
	PoolName string `json:"poolName,omitempty"`
	// part is the part's number, from 1: part 0 is the pool's own status.ledger. Immutable.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1048576
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="part is immutable"
	Part int32 `json:"part,omitempty"`
}

// LicenseLedgerStatus is one part of a pool's ledger: the holders it records.
type LicenseLedgerStatus struct {
	// seats lists SeatAssignments holding a seat, recorded in this part.
	// +optional
	Seats *Grants `json:"seats,omitempty"`
	// sessions lists SharedSessions holding a shared licence, recorded in this part.
	// +optional
	Sessions *Grants `json:"sessions,omitempty"`
}

// LicenseLedger is one part of the ledger of a pool whose limit is larger than LedgerPartSize,
// so that no object of the ledger outgrows what the API server stores. Part k records at most
// the grants from k×LedgerPartSize up to the limit, and each part is written with optimistic
// concurrency on its own resourceVersion: the parts together can never record more than the
// limit. Only the operator writes it; the protocol is described in controllers/ledger.go.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.poolName`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.poolName`
// +kubebuilder:printcolumn:name="Part",type=integer,JSONPath=`.spec.part`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LicenseLedger struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the pool and the part.
	// +required
	Spec LicenseLedgerSpec `json:"spec,omitzero"`
	// status is the holders this part records.
	// +optional
	Status LicenseLedgerStatus `json:"status,omitzero"`
}

// LicenseLedgerList is a list of LicenseLedgers.
// +kubebuilder:object:root=true
type LicenseLedgerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicenseLedger `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LicenseLedger{}, &LicenseLedgerList{})
}
