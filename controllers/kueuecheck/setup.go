package kueuecheck

import (
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
)

// Installed reports whether the API server serves Kueue's Workloads and AdmissionChecks at
// v1beta2, the version this package speaks.
func Installed(mgr ctrl.Manager) (bool, error) {
	for _, kind := range []string{"Workload", "AdmissionCheck"} {
		_, err := mgr.GetRESTMapper().RESTMapping(schema.GroupKind{Group: kueue.SchemeGroupVersion.Group, Kind: kind}, kueue.SchemeGroupVersion.Version)
		if apimeta.IsNoMatchError(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("look up Kueue's %s: %w", kind, err)
		}
	}
	return true, nil
}

// Setup registers the admission check's controllers when Kueue is installed, and logs that the
// check is off when it is not: the operator runs without Kueue as before. Kueue installed later
// is picked up when the operator restarts.
func Setup(mgr ctrl.Manager, clk clock.PassiveClock) error {
	log := mgr.GetLogger().WithName("kueue")
	ok, err := Installed(mgr)
	if err != nil {
		return err
	}
	if !ok {
		log.Info("Kueue is not installed: the licensing admission check is off")
		return nil
	}
	// The scheme is the manager's; a caller that already registered Kueue's kinds (a test's
	// shared scheme, read by other goroutines) is left as it is.
	if !mgr.GetScheme().Recognizes(kueue.SchemeGroupVersion.WithKind("Workload")) {
		if err := kueue.AddToScheme(mgr.GetScheme()); err != nil {
			return fmt.Errorf("add Kueue's kinds to the scheme: %w", err)
		}
	}
	checks := &AdmissionCheckReconciler{Client: mgr.GetClient()}
	if err := checks.SetupWithManager(mgr); err != nil {
		return err
	}
	wls := &WorkloadReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk}
	if err := wls.SetupWithManager(mgr); err != nil {
		return err
	}
	log.Info("Kueue is installed: seatkeeper answers AdmissionChecks with controllerName licensing.seatkeeper.io/license")
	return nil
}
