// Package controllers holds seatkeeper's reconcilers: the pool controller, which applies the
// allocator's decisions to a pool and its seats and sessions, and the order controller, which
// reports where a CustomerOrder's capacity counts; the pod gate and the Kueue admission check
// (subpackages) take sessions for Pods and Workloads.
package controllers

import (
	"context"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/seatkeeper/seatkeeper/controllers/kueuecheck"
	"github.com/seatkeeper/seatkeeper/controllers/podgate"
)

// Options tune the controllers.
type Options struct {
	// PoolWorkers is the number of pools reconciled in parallel.
	PoolWorkers int
	// Clock is the time source; the real clock when nil.
	Clock clock.PassiveClock
	// LedgerPartSize is how many holders of a kind one part of a pool's ledger records; the
	// API's LedgerPartSize when 0. Tests set it small so that every spec runs on ledgers of
	// several parts.
	LedgerPartSize int
}

// Setup registers every seatkeeper controller and its cache indexes with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	opts = opts.withDefaults()
	if err := setupIndexes(context.Background(), mgr); err != nil {
		return err
	}
	pools := &PoolReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Clock:     opts.Clock,
		Recorder:  mgr.GetEventRecorder("seatkeeper"),
		partSize:  opts.LedgerPartSize,
	}
	if err := pools.SetupWithManager(mgr, opts.PoolWorkers); err != nil {
		return err
	}
	orders := &OrderReconciler{Client: mgr.GetClient(), Clock: opts.Clock, Recorder: mgr.GetEventRecorder("seatkeeper")}
	if err := orders.SetupWithManager(mgr); err != nil {
		return err
	}
	gates := &podgate.Reconciler{Client: mgr.GetClient(), Clock: opts.Clock, Recorder: mgr.GetEventRecorder("seatkeeper")}
	if err := gates.SetupWithManager(mgr); err != nil {
		return err
	}
	// Kueue's admission check, when Kueue's CRDs are installed (it logs which).
	return kueuecheck.Setup(mgr, opts.Clock)
}

// withDefaults fills in what the options leave unset: the real clock, and one pool worker.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.PoolWorkers < 1 {
		o.PoolWorkers = 1
	}
	return o
}
