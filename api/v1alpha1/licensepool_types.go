package v1alpha1

import (
	"hash/fnv"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// WhenExhausted says what happens to a session that finds every shared licence in use.
// +kubebuilder:validation:Enum=Queue;Reject
type WhenExhausted string

const (
	// WhenExhaustedQueue puts the session in the pool's queue until a licence frees.
	WhenExhaustedQueue WhenExhausted = "Queue"
	// WhenExhaustedReject ends the session at once with endReason Rejected.
	WhenExhaustedReject WhenExhausted = "Reject"
)

// CountBy says what one shared licence covers.
// +kubebuilder:validation:Enum=Session;Holder
type CountBy string

const (
	// CountBySession uses one licence per Active session.
	CountBySession CountBy = "Session"
	// CountByHolder uses one licence per holder, however many Active sessions it has.
	CountByHolder CountBy = "Holder"
)

// PreemptionPolicy says which sessions a waiting session may take a licence from.
// +kubebuilder:validation:Enum=Never;LowerPriority
type PreemptionPolicy string

const (
	// PreemptNever: a session waits until a licence frees.
	PreemptNever PreemptionPolicy = "Never"
	// PreemptLowerPriority: a waiting session may take a licence from an Active session of
	// strictly lower spec.priority.
	PreemptLowerPriority PreemptionPolicy = "LowerPriority"
)

// Preemption is how a pool lets sessions of higher priority take licences from those of lower.
type Preemption struct {
	// policy is Never or LowerPriority. With LowerPriority, a waiting session that does not
	// fit, and would fit if some Active sessions of lower priority gave back their licences,
	// takes them from the most recently granted of those: each gets a notice (status.endsAt,
	// status.preemptedBy, the condition EndingSoon with reason Preempted, an Event) and ends
	// with endReason Preempted when gracePeriod runs out, unless licences free first or the
	// waiting session no longer needs them. A session is never preempted by one of the same or
	// lower priority, nor while it is under notice already.
	// +optional
	// +default="Never"
	Policy PreemptionPolicy `json:"policy,omitempty"`

	// gracePeriod is how long a preempted session keeps its licence after its notice. 0 ends
	// it at once. At most 24h.
	// +optional
	// +default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="gracePeriod must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) >= duration('0s')",message="gracePeriod must not be negative; 0 ends a preempted session at once"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('24h')",message="gracePeriod must be at most 24h, e.g. 30s"
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
}

// HolderGroup is a set of holders an administrator names in the pool, with the licences they
// may rely on and the most they may use. A session's holder (spec.holder) or a seat's assignee
// (spec.assignee.name) belongs to the first group with a member that matches it; a holder in no
// group uses the common licences.
type HolderGroup struct {
	// name identifies the group in status, metrics and messages, as a DNS label (e.g. cfd-team).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a group's name must be a lowercase name of letters, digits and '-', starting and ending with a letter or digit, e.g. cfd-team"
	Name string `json:"name,omitempty"`

	// members are the holders that belong: exact names (alice@acme.example), or patterns in
	// which * stands for any run of characters (sim-batch-*, *@cfd.acme.example). Names that
	// look like e-mail addresses match without regard to case.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	Members []string `json:"members,omitempty"`

	// reservedSessions are shared licences only the group's members may use. Members use their
	// reservation first, then the common licences. The pool's reservations together cannot
	// exceed spec.concurrentSessions.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	ReservedSessions *int32 `json:"reservedSessions,omitempty"`

	// maxSessions caps the shared licences the group's members use together. A session that
	// would take the group past it waits, with a message that names the cap. Unset: no cap.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	MaxSessions *int32 `json:"maxSessions,omitempty"`

	// maxSeats caps the named seats the group's members hold together. Unset: no cap.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	MaxSeats *int32 `json:"maxSeats,omitempty"`
}

// SessionPolicy governs the shared sessions of a pool.
type SessionPolicy struct {
	// heartbeatTimeout is how long a session may go without renewing status.renewTime. An Active
	// session not renewed for this long ends with HeartbeatExpired; a Waiting one leaves the queue.
	// From 5s to 1h.
	// +optional
	// +default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="heartbeatTimeout must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) >= duration('5s')",message="heartbeatTimeout must be at least 5s, so that agents can renew in time"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('1h')",message="heartbeatTimeout must be at most 1h, e.g. 60s: a crashed agent's licence comes back within one timeout"
	HeartbeatTimeout *metav1.Duration `json:"heartbeatTimeout,omitempty"`

	// idleTimeout ends an Active session that has stayed in state Idle this long (IdleTimeout),
	// counted from the later of status.stateChangedAt and status.grantedAt. At most 720h; unset: no
	// limit.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="idleTimeout must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) > duration('0s')",message="idleTimeout must be positive; leave it unset for no idle limit"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('720h')",message="idleTimeout must be at most 720h (30 days), e.g. 15m or 8h; leave it unset for no idle limit"
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`

	// maxDuration ends an Active session this long after it was granted (MaxDurationExceeded).
	// At most 8784h (366 days); unset: no limit.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="maxDuration must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) > duration('0s')",message="maxDuration must be positive; leave it unset for no duration limit"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('8784h')",message="maxDuration must be at most 8784h (366 days), e.g. 8h; leave it unset for no duration limit"
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`

	// whenExhausted is Queue (wait in line for a licence) or Reject (end at once with Rejected).
	// +optional
	// +default="Queue"
	WhenExhausted WhenExhausted `json:"whenExhausted,omitempty"`

	// requireSeat true lets only a holder with a Bound SeatAssignment in this pool (whose
	// spec.assignee.name equals the session's spec.holder) take a session; others end NotEntitled.
	// +optional
	// +default=false
	RequireSeat bool `json:"requireSeat,omitempty"`

	// countBy is Session (one licence per Active session) or Holder (all Active sessions of one
	// holder use one licence).
	// +optional
	// +default="Session"
	CountBy CountBy `json:"countBy,omitempty"`

	// capacityGracePeriod is how long an Active session keeps its licence after being told it
	// must give it back because the pool's capacity dropped below what is in use (an order
	// ended, was cancelled or deleted, or a limit was lowered). The most recently granted get
	// the notice: status.endsAt, the condition EndingSoon, an Event and their message; they end
	// with CapacityReduced when it runs out, unless a licence frees first. Nothing new is
	// granted beyond the new limit meanwhile. 0 ends them at once. At most 24h.
	// +optional
	// +default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="capacityGracePeriod must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) >= duration('0s')",message="capacityGracePeriod must not be negative; 0 ends such sessions at once"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('24h')",message="capacityGracePeriod must be at most 24h, e.g. 5m"
	CapacityGracePeriod *metav1.Duration `json:"capacityGracePeriod,omitempty"`

	// maxPerHolder caps the shared licences one holder may use at once (FlexNet MAX for a
	// user). A session that would take its holder past it waits (or, with whenExhausted Reject,
	// is turned away) with a message that names the cap, without holding up the queue. Unset:
	// no cap.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxPerHolder int32 `json:"maxPerHolder,omitempty"`

	// preemption lets a waiting session of higher priority take a licence from the most
	// recently granted Active session of lower priority, after a notice. Off unless set.
	// +optional
	Preemption *Preemption `json:"preemption,omitempty"`

	// retainEnded is how long an Ended session is kept, as the record for usage reports, before
	// the operator deletes it.
	// +optional
	// +default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="retainEnded must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) >= duration('0s')",message="retainEnded must not be negative"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('8784h')",message="retainEnded must be at most 8784h (366 days), e.g. 24h or 2160h for a quarter's reports"
	RetainEnded *metav1.Duration `json:"retainEnded,omitempty"`
}

// LicensePoolSpec is what a platform team declares about one product's licences in an account.
// +kubebuilder:validation:XValidation:rule="(has(self.managedBy) ? self.managedBy : '') == (has(oldSelf.managedBy) ? oldSelf.managedBy : '')",message="managedBy is immutable: recreate the pool to hand it to another manager",fieldPath=".managedBy"
// +kubebuilder:validation:XValidation:rule="!has(self.groups) || !has(self.concurrentSessions) || self.groups.map(g, has(g.reservedSessions) ? g.reservedSessions : 0).sum() <= self.concurrentSessions",message="the groups' reservedSessions together exceed concurrentSessions: lower a reservation or raise concurrentSessions",fieldPath=".groups"
type LicensePoolSpec struct {
	// product is the product this pool licenses, as a DNS label (e.g. remote-support). Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="product must be a lowercase name of letters, digits and '-', starting and ending with a letter or digit, e.g. remote-support"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="product is immutable: create a new pool for another product"
	Product string `json:"product,omitempty"`

	// displayName is a name for people, shown by the kubectl plugin.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// seats is the number of named seats bought. Unset: unlimited. Active CustomerOrders add to it.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=integer
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Seats *int32 `json:"seats,omitempty"`

	// concurrentSessions is the number of shared (concurrent) licences. Unset: unlimited; 0: none.
	// Active CustomerOrders add to it.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=integer
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	ConcurrentSessions *int32 `json:"concurrentSessions,omitempty"`

	// overdraftSessions lets the pool grant up to this many shared licences beyond its limit
	// (concurrentSessions plus orders) when every licence is in use, as a vendor's OVERDRAFT
	// does. Licences beyond the limit are marked (the session's condition Overdraft, the pool's
	// status.sessions.overdraft and condition Overdraft, a Warning event): they are the first
	// covered again when licences free up, and the first taken back when a lowered limit must be
	// enforced. Never more than this many. Unset or 0: none.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	OverdraftSessions *int32 `json:"overdraftSessions,omitempty"`

	// expiresAt is when the licence expires: after it nothing new is granted, seats go back to
	// Pending and Active sessions end with PoolExpired.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= timestamp('1970-01-01T00:00:00Z')",message="expiresAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// expiryWarning is how long before expiresAt the pool reports ExpiringSoon and emits a
	// Warning event.
	// +optional
	// +default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$')",message="expiryWarning must be a duration such as 90s, 15m or 8h (units: ns, us, ms, s, m, h; no days: 48h is two days)"
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) >= duration('0s')",message="expiryWarning must not be negative"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+]?([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h)){1,4}$') || duration(self) <= duration('8784h')",message="expiryWarning must be at most 8784h (366 days), e.g. 168h for a week's notice"
	ExpiryWarning *metav1.Duration `json:"expiryWarning,omitempty"`

	// sessionPolicy governs the pool's shared sessions: timeouts, queueing and counting.
	// +optional
	// +default={}
	SessionPolicy SessionPolicy `json:"sessionPolicy,omitzero"`

	// groups name sets of holders with reserved licences and caps (see HolderGroup). A holder
	// belongs to the first group that matches it.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Groups []HolderGroup `json:"groups,omitempty"`

	// managedBy names the system that decides grants in this pool. Unset or
	// licensing.seatkeeper.io/controller: seatkeeper. Anything else: seatkeeper only reports
	// counts and changes no seat or session. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ManagedBy string `json:"managedBy,omitempty"`
}

// SeatUsage reports a pool's named seats.
type SeatUsage struct {
	// limit is the effective seat limit: spec.seats plus what active orders add. Omitted when
	// unlimited.
	// +optional
	Limit *int32 `json:"limit,omitempty"`
	// bound is the number of SeatAssignments holding a seat.
	// +optional
	Bound int32 `json:"bound"`
	// pending is the number of enabled SeatAssignments waiting for a seat.
	// +optional
	Pending int32 `json:"pending"`
	// summary is bound/limit for people, with ∞ for an unlimited pool.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Summary string `json:"summary,omitempty"`
}

// SessionUsage reports a pool's shared licences.
type SessionUsage struct {
	// limit is the effective shared-licence limit: spec.concurrentSessions plus what active
	// orders add. Omitted when unlimited.
	// +optional
	Limit *int32 `json:"limit,omitempty"`
	// active is the number of licences in use (Active sessions, or their holders with
	// countBy Holder).
	// +optional
	Active int32 `json:"active"`
	// idle is the number of Active sessions in state Idle.
	// +optional
	Idle int32 `json:"idle"`
	// waiting is the number of sessions in the queue.
	// +optional
	Waiting int32 `json:"waiting"`
	// summary is active/limit for people, with ∞ for an unlimited pool.
	// +optional
	// +kubebuilder:validation:MinLength=1
	Summary string `json:"summary,omitempty"`
	// overdraft is the number of licences in use beyond the limit (see spec.overdraftSessions).
	// +optional
	Overdraft int32 `json:"overdraft"`
	// reserved is the number of licences the groups reserve for their members.
	// +optional
	Reserved int32 `json:"reserved"`
}

// GroupUsage reports one group's use of the pool (see LicensePoolSpec.groups).
type GroupUsage struct {
	// name is the group's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name,omitempty"`
	// sessionsActive is the number of shared licences the group's members use.
	// +optional
	SessionsActive int32 `json:"sessionsActive"`
	// sessionsWaiting is the number of the group's sessions in the queue.
	// +optional
	SessionsWaiting int32 `json:"sessionsWaiting"`
	// reservedSessions is the number of licences reserved for the group.
	// +optional
	ReservedSessions int32 `json:"reservedSessions"`
	// maxSessions is the group's cap on shared licences, when it has one.
	// +optional
	MaxSessions *int32 `json:"maxSessions,omitempty"`
	// seatsBound is the number of named seats the group's members hold.
	// +optional
	SeatsBound int32 `json:"seatsBound"`
	// maxSeats is the group's cap on named seats, when it has one.
	// +optional
	MaxSeats *int32 `json:"maxSeats,omitempty"`
}

// PoolOrder is the capacity one active CustomerOrder adds to a pool.
type PoolOrder struct {
	// name is the CustomerOrder's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name,omitempty"`
	// seats is the number of seats the order adds.
	// +optional
	Seats int32 `json:"seats"`
	// concurrentSessions is the number of shared licences the order adds.
	// +optional
	ConcurrentSessions int32 `json:"concurrentSessions"`
	// expiresAt is when the order's term ends, if it does.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// Grants is one list of the ledger: the claimants that hold a licence, one entry per licence.
// A SharedSession holding count licences (spec.count) is recorded count times: as its name
// and as name/2 … name/count (LedgerEntries), so that the number of entries is the number of
// licences the ledger grants. See controllers/ledger.go.
type Grants struct {
	// holders are the names of the SeatAssignments or SharedSessions holding a licence, sorted;
	// a session's second and further licences as name/2, name/3, ...
	// +optional
	// +listType=atomic
	Holders []string `json:"holders,omitempty"`
	// uids are the holders' UIDs, in the same order ("" where not known): a claimant deleted
	// and created again under the same name is another holder. The operator uses them to tell
	// a deleted holder, which its watch reported gone, from one it has not heard of yet.
	// +optional
	// +listType=atomic
	UIDs []types.UID `json:"uids,omitempty"`
	// uidsFor is a hash of the holders the uids were recorded for. A writer that does not know
	// uids (an operator that predates them) changes holders and leaves uids alone; the hash
	// then no longer matches, and the uids are ignored.
	// +optional
	// +kubebuilder:validation:MinLength=1
	UIDsFor string `json:"uidsFor,omitempty"`
}

// RecordedUIDs are the holders' UIDs, in the holders' order, or nil when the ledger does not
// record them or records them for another list of holders. It hashes the holders: call it once
// per list, not per holder.
func (g *Grants) RecordedUIDs() []types.UID {
	if len(g.UIDs) != len(g.Holders) || g.UIDsFor != HoldersHash(g.Holders) {
		return nil
	}
	return g.UIDs
}

// LedgerEntries are the ledger entries of a claimant that holds count licences: its name for
// the first, and name/2 … name/count for the others. An object's name never holds a '/', so an
// entry names one claimant and one of its licences.
func LedgerEntries(name string, count int32) []string {
	out := make([]string, 1, max(1, count))
	out[0] = name
	for k := int32(2); k <= count; k++ {
		out = append(out, name+"/"+strconv.Itoa(int(k)))
	}
	return out
}

// LedgerHolder is the claimant a ledger entry belongs to (see LedgerEntries).
func LedgerHolder(entry string) string {
	name, _, _ := strings.Cut(entry, "/")
	return name
}

// HoldersHash is the hash uidsFor records: FNV-1a (64 bits) of the names, each ended by a NUL.
func HoldersHash(holders []string) string {
	h := fnv.New64a()
	for _, n := range holders {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Ledger is the pool's record of who holds its limited licences. A grant is written here, with
// optimistic concurrency on the pool, before it shows on the claimant; so two operators, or one
// with a stale cache, can never hand out more than the limit. A list is present only while its
// limit is finite: an unlimited pool cannot be over-granted. A list whose limit is larger than
// LedgerPartSize is kept in parts: this is part 0, and LicenseLedgers owned by the pool hold the
// others. The protocol that keeps it is described once, in controllers/ledger.go.
type Ledger struct {
	// seats lists the SeatAssignments holding a seat.
	// +optional
	Seats *Grants `json:"seats,omitempty"`
	// sessions lists the SharedSessions holding a shared licence.
	// +optional
	Sessions *Grants `json:"sessions,omitempty"`
	// promises are the first waiting sessions of the queue, promised the next shared licences
	// freed, in order: the k-th may be granted as soon as k of the holders in sessions have
	// freed theirs (ended, or deleted), before the ledger records it. Kept only in a pool whose
	// ledger is one part and that has no groups, caps per holder, overdraft or preemption; the
	// protocol is described in controllers/ledger.go.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Promises []Promise `json:"promises,omitempty"`
}

// Promise is a waiting session the ledger promises one of the next shared licences freed.
type Promise struct {
	// name is the SharedSession's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// uid is the SharedSession's UID: a session deleted and created again under the same name
	// is not the one promised.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	UID types.UID `json:"uid,omitempty"`
	// token is the session's status.promise when it was promised: a session whose token has
	// changed or gone since is not promised any more.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Token string `json:"token,omitempty"`
}

// LicensePoolStatus is what the operator observed and decided for a pool.
type LicensePoolStatus struct {
	// conditions are Ready, Expired, ExpiringSoon, SeatsExhausted, SessionsExhausted, Overdraft and
	// (while groups reserve licences) ReservationsFit.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// seats reports named-seat usage.
	// +optional
	Seats SeatUsage `json:"seats,omitzero"`
	// sessions reports shared-licence usage.
	// +optional
	Sessions SessionUsage `json:"sessions,omitzero"`
	// orders lists the capacity that active CustomerOrders add.
	// +optional
	// +listType=map
	// +listMapKey=name
	Orders []PoolOrder `json:"orders,omitempty"`
	// groups reports each group's usage, in the order of spec.groups.
	// +optional
	// +listType=map
	// +listMapKey=name
	Groups []GroupUsage `json:"groups,omitempty"`
	// ledger records who holds the pool's limited licences (the first part of the record, for a
	// limit above 2048: see Ledger).
	// +optional
	Ledger *Ledger `json:"ledger,omitempty"`
}

// LicensePool is the licences of one product in one customer account (its namespace): named
// seats, shared (concurrent) licences, their expiry and the rules for sessions.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lp,categories=licensing
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.product`
// +kubebuilder:printcolumn:name="Seats",type=string,JSONPath=`.status.seats.summary`
// +kubebuilder:printcolumn:name="Sessions",type=string,JSONPath=`.status.sessions.summary`
// +kubebuilder:printcolumn:name="Waiting",type=integer,JSONPath=`.status.sessions.waiting`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Overdraft",type=integer,JSONPath=`.status.sessions.overdraft`,priority=1
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type LicensePool struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the licences as bought.
	// +required
	Spec LicensePoolSpec `json:"spec,omitzero"`
	// status is the usage the operator observed.
	// +optional
	Status LicensePoolStatus `json:"status,omitzero"`
}

// LicensePoolList is a list of LicensePools.
// +kubebuilder:object:root=true
type LicensePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicensePool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LicensePool{}, &LicensePoolList{})
}
