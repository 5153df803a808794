package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionState is what the holder reports doing with its licence.
// +kubebuilder:validation:Enum=Idle;Connected
type SessionState string

const (
	// SessionIdle: logged in with a session open, not connected to anyone.
	SessionIdle SessionState = "Idle"
	// SessionConnected: actively connected to a peer.
	SessionConnected SessionState = "Connected"
)

// SharedSessionSpec asks for shared licences of a pool (one, or count at once) for one holder.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.terminate) || !oldSelf.terminate || (has(self.terminate) && self.terminate)",message="terminate cannot be undone: an ended session stays ended; create a new session instead",fieldPath=".terminate"
type SharedSessionSpec struct {
	// poolName is the LicensePool, in this namespace, the licence comes from. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="poolName must be a pool's name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. remote-support"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="poolName is immutable: end this session and create one in the other pool"
	PoolName string `json:"poolName,omitempty"`
	// holder is the agent (person or pod) holding the licence. Immutable; no leading or trailing
	// spaces. With requireSeat, a holder whose name looks like an e-mail address matches its
	// seat's assignee without regard to case.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self == self.trim()",message="holder must not start or end with a space: write the name alone, e.g. alice@acme.example"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="holder is immutable: a session cannot be handed to another holder"
	Holder string `json:"holder,omitempty"`
	// peer is whom the holder is connected to: the "to" of the session log.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Peer string `json:"peer,omitempty"`
	// state is Idle (session open, not connected) or Connected, as the holder reports it.
	// +optional
	// +default="Idle"
	State SessionState `json:"state,omitempty"`
	// priority orders the queue: higher is served first, first come first served among equals.
	// +optional
	// +default=0
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=integer
	// +kubebuilder:validation:Minimum=-1000000
	// +kubebuilder:validation:Maximum=1000000
	Priority int32 `json:"priority,omitempty"`
	// count is how many shared licences the session takes, all or none: it is granted only
	// when count licences are free at once, and they are freed together when it ends. Immutable.
	// The queue keeps its order (priority, then age): a session at the head that does not fit
	// yet keeps the licences that free up until it does, so no session behind it is granted
	// meanwhile. A session asking for more than the pool's whole limit (concurrentSessions plus
	// orders) can never fit: it does not hold the queue but waits aside, its message says so,
	// until the limit grows (or, with whenExhausted Reject, it is turned away).
	// With countBy Holder, a holder uses as many licences as the largest count among its
	// Active sessions.
	// +optional
	// +default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="count is immutable: end this session and create one with the count you need"
	Count int32 `json:"count,omitempty"`
	// terminate true ends the session (endReason Terminated) and keeps the record: how an
	// administrator force-ends a session or a holder releases it. Cannot be undone.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
}

// SessionPhase is where a SharedSession stands.
// +kubebuilder:validation:Enum=Waiting;Active;Ended
type SessionPhase string

const (
	// SessionWaiting is in the pool's queue.
	SessionWaiting SessionPhase = "Waiting"
	// SessionActive holds a shared licence.
	SessionActive SessionPhase = "Active"
	// SessionEnded holds nothing and never will again; status.endReason says why.
	SessionEnded SessionPhase = "Ended"
)

// EndReason says why a session ended.
// +kubebuilder:validation:Enum=Terminated;HeartbeatExpired;IdleTimeout;MaxDurationExceeded;PoolExpired;PoolNotFound;Rejected;NotEntitled;CapacityReduced;Preempted
type EndReason string

const (
	EndTerminated          EndReason = "Terminated"
	EndHeartbeatExpired    EndReason = "HeartbeatExpired"
	EndIdleTimeout         EndReason = "IdleTimeout"
	EndMaxDurationExceeded EndReason = "MaxDurationExceeded"
	EndPoolExpired         EndReason = "PoolExpired"
	EndPoolNotFound        EndReason = "PoolNotFound"
	EndRejected            EndReason = "Rejected"
	EndNotEntitled         EndReason = "NotEntitled"
	EndCapacityReduced     EndReason = "CapacityReduced"
	// EndPreempted: a waiting session of higher priority took the licence (see the pool's
	// sessionPolicy.preemption).
	EndPreempted EndReason = "Preempted"
)

// SharedSessionStatus is the lease's state. The holder writes only renewTime; the operator
// writes the rest and never renewTime.
// A status says one thing: an Ended session has the time and the reason it ended, only a
// Waiting one has a queue position, and only an Active one is Granted. (Once Ended, the whole
// session is frozen: see SharedSession.)
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.phase) || oldSelf.phase != 'Ended' || (has(self.phase) && self.phase == 'Ended')",message="an Ended session stays Ended: create a new session",fieldPath=".phase"
// +kubebuilder:validation:XValidation:rule="!has(self.phase) || self.phase != 'Ended' || (has(self.endedAt) && has(self.endReason))",message="an Ended session needs endedAt and endReason: the record says when and why it ended",fieldPath=".phase"
// +kubebuilder:validation:XValidation:rule="!has(self.endsAt) || (has(self.phase) && self.phase == 'Active')",message="only an Active session can be under notice (endsAt)",fieldPath=".endsAt"
// +kubebuilder:validation:XValidation:rule="!has(self.preemptedBy) || has(self.endsAt)",message="a session under preemption (preemptedBy) needs endsAt: the notice says when it ends",fieldPath=".preemptedBy"
// +kubebuilder:validation:XValidation:rule="!has(self.queuePosition) || (has(self.phase) && self.phase == 'Waiting')",message="only a Waiting session has a queuePosition: leave it out for a session that is Active or Ended",fieldPath=".queuePosition"
// +kubebuilder:validation:XValidation:rule="!has(self.promise) || (has(self.phase) && self.phase == 'Waiting')",message="only a Waiting session holds a promise: leave it out for a session that is Active or Ended",fieldPath=".promise"
// +kubebuilder:validation:XValidation:rule="(has(self.phase) && self.phase == 'Active') || !has(self.conditions) || !self.conditions.exists(c, c.type == 'Granted' && c.status == 'True')",message="only an Active session has the Granted condition True",fieldPath=".conditions"
type SharedSessionStatus struct {
	// conditions are Granted (True while Active) and Ready; EndingSoon while under notice, and
	// Overdraft while the session holds licences beyond the pool's limit.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// renewTime is the heartbeat: the holder merge-patches it through the status subresource at
	// least once per heartbeatTimeout, as RFC 3339 with microseconds (2026-11-23T12:00:00.000000Z).
	// The session's creation counts as the first renewal.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$')",message="renewTime must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z; in a shell: date -u +%Y-%m-%dT%H:%M:%S.000000Z"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$') || timestamp(self) >= timestamp('1970-01-01T00:00:00Z')",message="renewTime must be on or after 1970-01-01T00:00:00.000000Z, e.g. 2026-11-23T12:00:00.000000Z"
	RenewTime *metav1.MicroTime `json:"renewTime,omitempty"`
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is Waiting, Active or Ended (final).
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`
	// queuePosition is the 1-based place in the pool's queue while Waiting.
	// +optional
	// +kubebuilder:validation:Minimum=1
	QueuePosition int32 `json:"queuePosition,omitempty"`
	// grantedAt is when the session became Active.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$')",message="grantedAt must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z; in a shell: date -u +%Y-%m-%dT%H:%M:%S.000000Z"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$') || timestamp(self) >= timestamp('1970-01-01T00:00:00Z')",message="grantedAt must be on or after 1970-01-01T00:00:00.000000Z, e.g. 2026-11-23T12:00:00.000000Z"
	GrantedAt *metav1.MicroTime `json:"grantedAt,omitempty"`
	// endedAt is when the session ended.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$')",message="endedAt must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z; in a shell: date -u +%Y-%m-%dT%H:%M:%S.000000Z"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$') || timestamp(self) >= timestamp('1970-01-01T00:00:00Z')",message="endedAt must be on or after 1970-01-01T00:00:00.000000Z, e.g. 2026-11-23T12:00:00.000000Z"
	EndedAt *metav1.MicroTime `json:"endedAt,omitempty"`
	// stateChangedAt is when the operator first saw the current spec.state.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$')",message="stateChangedAt must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z; in a shell: date -u +%Y-%m-%dT%H:%M:%S.000000Z"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$') || timestamp(self) >= timestamp('1970-01-01T00:00:00Z')",message="stateChangedAt must be on or after 1970-01-01T00:00:00.000000Z, e.g. 2026-11-23T12:00:00.000000Z"
	StateChangedAt *metav1.MicroTime `json:"stateChangedAt,omitempty"`
	// endsAt is set while an Active session is under notice: the pool's capacity dropped below
	// what is in use, and the session ends then (CapacityReduced) unless a licence frees first
	// (see the pool's sessionPolicy.capacityGracePeriod); or, with preemptedBy, a session of
	// higher priority takes its licence then (Preempted).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$')",message="endsAt must be an RFC 3339 time with six fractional digits (microseconds), e.g. 2026-11-23T12:00:00.000000Z; in a shell: date -u +%Y-%m-%dT%H:%M:%S.000000Z"
	EndsAt *metav1.MicroTime `json:"endsAt,omitempty"`
	// preemptedBy is set, with endsAt, while an Active session is under notice because the
	// waiting session it names, of higher priority, takes its licence (the pool's
	// sessionPolicy.preemption). The session ends then with endReason Preempted.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	PreemptedBy string `json:"preemptedBy,omitempty"`
	// observedState is the spec.state that stateChangedAt refers to.
	// +optional
	ObservedState SessionState `json:"observedState,omitempty"`
	// endReason says why the session ended.
	// +optional
	EndReason EndReason `json:"endReason,omitempty"`
	// message explains the phase in words, e.g. the queue position and the pool's numbers.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Message string `json:"message,omitempty"`
	// promise is set by the operator on the first sessions of a busy pool's queue: a token the
	// pool's ledger names too (status.ledger.promises). A session the ledger promises a licence
	// is granted as soon as enough holders have freed theirs, without waiting for the ledger to
	// be written first (the protocol is described in controllers/ledger.go). Only a Waiting
	// session carries one.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Promise string `json:"promise,omitempty"`
}

// SharedSession is a lease on shared (concurrent) licences of a pool, spec.count of them, in
// the manner of a coordination.k8s.io Lease: the holder renews it, the operator grants, queues
// and ends it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sess,categories=licensing
// +kubebuilder:selectablefield:JSONPath=`.spec.poolName`
// +kubebuilder:selectablefield:JSONPath=`.spec.holder`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.poolName`
// +kubebuilder:printcolumn:name="Holder",type=string,JSONPath=`.spec.holder`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Licences",type=integer,JSONPath=`.spec.count`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Position",type=integer,JSONPath=`.status.queuePosition`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.endReason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Peer",type=string,JSONPath=`.spec.peer`,priority=1
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`,priority=1
// +kubebuilder:printcolumn:name="Renewed",type=date,JSONPath=`.status.renewTime`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase != 'Ended' || (self.spec == oldSelf.spec && has(self.status) && self.status == oldSelf.status)",message="the session has ended and its record is final: neither its spec nor its status can change (only its labels, annotations and deletion); create a new session"
type SharedSession struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the licence asked for and the holder's reported state.
	// +required
	Spec SharedSessionSpec `json:"spec,omitzero"`
	// status is the lease: heartbeat, phase, queue position.
	// +optional
	Status SharedSessionStatus `json:"status,omitzero"`
}

// SharedSessionList is a list of SharedSessions.
// +kubebuilder:object:root=true
type SharedSessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SharedSession `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SharedSession{}, &SharedSessionList{})
}
