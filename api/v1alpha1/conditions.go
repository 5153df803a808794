package v1alpha1

// Condition types. Every kind carries Ready; the others belong to one kind each.
const (
	// ConditionReady is True when the object is in the state its spec asks for and the operator
	// has nothing left to do for it; its observedGeneration says which spec that was.
	ConditionReady = "Ready"

	// ConditionExpired is True on a LicensePool whose spec.expiresAt has passed.
	ConditionExpired = "Expired"
	// ConditionExpiringSoon is True on a LicensePool within spec.expiryWarning of its expiry.
	ConditionExpiringSoon = "ExpiringSoon"
	// ConditionSeatsExhausted is True on a LicensePool with every seat bound.
	ConditionSeatsExhausted = "SeatsExhausted"
	// ConditionSessionsExhausted is True on a LicensePool with every shared licence in use.
	ConditionSessionsExhausted = "SessionsExhausted"

	// ConditionOverdraft is True on a LicensePool with licences in use beyond its limit (see
	// spec.overdraftSessions), and False otherwise while overdraft is allowed. On a
	// SharedSession it is True while the session holds licences beyond its pool's limit, and
	// absent otherwise.
	ConditionOverdraft = "Overdraft"
	// ConditionReservationsFit is False on a LicensePool whose groups reserve more shared
	// licences than its limit; it is absent when no group reserves any.
	ConditionReservationsFit = "ReservationsFit"

	// ConditionBound is True on a SeatAssignment that holds a seat.
	ConditionBound = "Bound"

	// ConditionGranted is True on a SharedSession while it holds a shared licence (phase Active).
	ConditionGranted = "Granted"
	// ConditionEndingSoon is True on an Active SharedSession under notice: the pool's capacity
	// dropped (reason CapacityReduced), or a session of higher priority takes its licence
	// (reason Preempted), and the session ends at status.endsAt unless a licence frees first.
	// It is absent otherwise.
	ConditionEndingSoon = "EndingSoon"

	// ConditionFulfilled is True on a CustomerOrder whose capacity is counted in its pools.
	ConditionFulfilled = "Fulfilled"
)

// ControllerName is the spec.managedBy value of pools whose grants seatkeeper decides.
const ControllerName = "licensing.seatkeeper.io/controller"

// Well-known names on objects that are not ours.
const (
	// PodSchedulingGate holds a Pod back until it has a shared licence.
	PodSchedulingGate = "licensing.seatkeeper.io/license"
	// PodPoolAnnotation names the pool a gated Pod takes its licence from.
	PodPoolAnnotation = "licensing.seatkeeper.io/pool"
	// PodLicensesAnnotation is how many shared licences a gated Pod takes at once, as a
	// decimal ("4"); without it, one. It becomes the session's spec.count.
	PodLicensesAnnotation = "licensing.seatkeeper.io/licenses"
	// MaxSessionCount is the most licences one session may take (spec.count's maximum).
	MaxSessionCount = 1024
)
