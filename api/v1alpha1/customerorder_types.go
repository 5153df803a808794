package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OrderItem is the capacity an order adds to one pool.
type OrderItem struct {
	// product is the product bought, as a DNS label; it must match the pool's spec.product.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="product must be a lowercase name of letters, digits and '-', starting and ending with a letter or digit, e.g. remote-support"
	Product string `json:"product,omitempty"`
	// poolName is the pool in the customer's namespace that receives the capacity. Empty: the
	// product's name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="poolName must be a pool's name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. remote-support"
	PoolName string `json:"poolName,omitempty"`
	// seats is the number of named seats added.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=integer
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Seats int32 `json:"seats,omitempty"`
	// concurrentSessions is the number of shared licences added.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=integer
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	ConcurrentSessions int32 `json:"concurrentSessions,omitempty"`
}

// TargetPool is the pool name an item adds capacity to.
func (i OrderItem) TargetPool() string {
	if i.PoolName != "" {
		return i.PoolName
	}
	return i.Product
}

// CustomerOrderSpec is an order of licences a partner bought.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.customer) || oldSelf.customer == '' || (has(self.customer) && self.customer == oldSelf.customer)",message="customer cannot change once set: the whole order belongs to one account; cancel it and record a new order",fieldPath=".customer"
// +kubebuilder:validation:XValidation:rule="!has(self.startsAt) || !has(self.expiresAt) || self.startsAt < self.expiresAt",message="expiresAt must be after startsAt",fieldPath=".expiresAt"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancelled) || !oldSelf.cancelled || (has(self.cancelled) && self.cancelled)",message="a cancelled order cannot be reinstated; record a new order",fieldPath=".cancelled"
type CustomerOrderSpec struct {
	// customer is the customer account: the namespace whose pools receive the capacity. Empty:
	// bought, not yet assigned. Cannot change once set.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$')",message="customer must be the customer's namespace: lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. acme; empty while the order is not assigned"
	Customer string `json:"customer,omitempty"`
	// items are the pools and capacity bought; each pool name at most once.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(i, self.exists_one(j, (has(j.poolName) && j.poolName != '' ? j.poolName : j.product) == (has(i.poolName) && i.poolName != '' ? i.poolName : i.product)))",message="items must name each pool once (poolName, or the product when poolName is empty); merge the duplicate items"
	Items []OrderItem `json:"items,omitempty"`
	// startsAt is when the term starts; unset: at once.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= timestamp('1970-01-01T00:00:00Z')",message="startsAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"
	StartsAt *metav1.Time `json:"startsAt,omitempty"`
	// expiresAt is when the term ends; unset: never.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= timestamp('1970-01-01T00:00:00Z')",message="expiresAt must be a time in RFC 3339 on or after 1970-01-01T00:00:00Z, e.g. 2027-11-30T00:00:00Z"
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// cancelled ends the contract: the capacity is removed at once. Cannot be undone.
	// +optional
	Cancelled bool `json:"cancelled,omitempty"`
}

// OrderPhase is where a CustomerOrder stands.
// +kubebuilder:validation:Enum=Unassigned;Scheduled;Active;Expired;Cancelled;Invalid
type OrderPhase string

const (
	OrderUnassigned OrderPhase = "Unassigned"
	OrderScheduled  OrderPhase = "Scheduled"
	OrderActive     OrderPhase = "Active"
	OrderExpired    OrderPhase = "Expired"
	OrderCancelled  OrderPhase = "Cancelled"
	OrderInvalid    OrderPhase = "Invalid"
)

// OrderPool is what an order adds to one pool.
type OrderPool struct {
	// namespace is the customer's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace,omitempty"`
	// name is the pool's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name,omitempty"`
	// seats is the number of seats added.
	// +optional
	Seats int32 `json:"seats"`
	// concurrentSessions is the number of shared licences added.
	// +optional
	ConcurrentSessions int32 `json:"concurrentSessions"`
}

// CustomerOrderStatus says where the order's capacity counts.
type CustomerOrderStatus struct {
	// conditions are Fulfilled and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is Unassigned, Scheduled, Active, Expired, Cancelled or Invalid.
	// +optional
	Phase OrderPhase `json:"phase,omitempty"`
	// pools lists what the order adds where.
	// +optional
	// +listType=atomic
	Pools []OrderPool `json:"pools,omitempty"`
}

// CustomerOrder is an order of licences a partner bought and assigned to one customer account:
// for its term it adds capacity to that account's pools.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=order,categories=licensing
// +kubebuilder:printcolumn:name="Customer",type=string,JSONPath=`.spec.customer`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Starts",type=string,JSONPath=`.spec.startsAt`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Fulfilled")].message`,priority=1
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || !(oldSelf.status.phase in ['Expired', 'Cancelled']) || self.spec == oldSelf.spec",message="the order has ended (expired or cancelled) and its record is final: its spec cannot change; record a new order"
type CustomerOrder struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the order as bought.
	// +required
	Spec CustomerOrderSpec `json:"spec,omitzero"`
	// status says where its capacity counts.
	// +optional
	Status CustomerOrderStatus `json:"status,omitzero"`
}

// CustomerOrderList is a list of CustomerOrders.
// +kubebuilder:object:root=true
type CustomerOrderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomerOrder `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CustomerOrder{}, &CustomerOrderList{})
}
