// Package v1alpha1 holds seatkeeper's API, group licensing.seatkeeper.io, version v1alpha1:
// licence pools, seat assignments, shared sessions and customer orders.
//
// +kubebuilder:object:generate=true
// +groupName=licensing.seatkeeper.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "licensing.seatkeeper.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
