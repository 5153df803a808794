package v1alpha1

// Condition reasons the operator writes besides the typed SeatReason and EndReason values: a
// seat's Bound and Ready conditions carry its SeatReason, an Ended session's its EndReason.
const (
	// ReasonReconciled: a pool's Ready, when its grants are up to date.
	ReasonReconciled = "Reconciled"
	// ReasonManagedExternally: a pool's Ready, when another controller decides its grants.
	ReasonManagedExternally = "ManagedExternally"
	// ReasonExpired: a pool's or an order's term has ended.
	ReasonExpired = "Expired"
	// ReasonNotExpired: a pool's Expired, while its term lasts.
	ReasonNotExpired = "NotExpired"
	// ReasonExpiringSoon: a pool's ExpiringSoon, within spec.expiryWarning of its expiry.
	ReasonExpiringSoon = "ExpiringSoon"
	// ReasonNotExpiringSoon: a pool's ExpiringSoon, before the warning.
	ReasonNotExpiringSoon = "NotExpiringSoon"
	// ReasonSeatsExhausted and ReasonSeatsAvailable: a pool's SeatsExhausted.
	ReasonSeatsExhausted = "SeatsExhausted"
	ReasonSeatsAvailable = "SeatsAvailable"
	// ReasonSessionsExhausted and ReasonSessionsAvailable: a pool's SessionsExhausted.
	ReasonSessionsExhausted = "SessionsExhausted"
	ReasonSessionsAvailable = "SessionsAvailable"
	// ReasonOverdraft: a pool's Overdraft while licences are in use beyond its limit, and a
	// session's while it holds some of them. ReasonWithinLimit: a pool's Overdraft while none
	// are.
	ReasonOverdraft   = "Overdraft"
	ReasonWithinLimit = "WithinLimit"
	// ReasonReservationsFit and ReasonReservationsExceedLimit: a pool's ReservationsFit.
	ReasonReservationsFit         = "ReservationsFit"
	ReasonReservationsExceedLimit = "ReservationsExceedLimit"

	// ReasonWriteRefused: a pool's Ready, and a would-be grant's Granted, when the API server
	// refused a write for a reason retrying cannot fix (too large, invalid, forbidden).
	ReasonWriteRefused = "WriteRefused"

	// ReasonGranted: a session's Granted and Ready while it holds a shared licence. A waiting
	// session's carry its phase (Waiting), an ended one's its EndReason.
	ReasonGranted = "Granted"

	// ReasonFulfilled: an order's capacity counts in its pools.
	ReasonFulfilled = "Fulfilled"
	// ReasonUnassigned: an order has no spec.customer yet.
	ReasonUnassigned = "Unassigned"
	// ReasonCancelled: an order was cancelled.
	ReasonCancelled = "Cancelled"
	// ReasonScheduled: an order's term has not started.
	ReasonScheduled = "Scheduled"
	// ReasonCustomerNotFound: an order's customer namespace does not exist.
	ReasonCustomerNotFound = "CustomerNotFound"
	// ReasonProductMismatch: an order names a pool that licenses another product.
	ReasonProductMismatch = "ProductMismatch"

	// ReasonUnknown stands in for a reason not known yet, which a condition must still carry.
	ReasonUnknown = "Unknown"
)
