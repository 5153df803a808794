// Command seatkeeper-agent is a sidecar that holds a shared licence (or several, --licences) for its pod or person:
// it creates a SharedSession, waits in the pool's queue, renews the heartbeat, and gives the
// licence back on SIGTERM. Its /readyz is ready only while the licence is held, so the pod's
// main container can be gated on it.
//
// Configuration, by flag or environment:
//
//	--pool       SEATKEEPER_POOL       the LicensePool (required)
//	--holder     SEATKEEPER_HOLDER     who holds the licence (default: POD_NAME, from the downward API)
//	--namespace  SEATKEEPER_NAMESPACE  the pool's namespace (default: POD_NAMESPACE, then the service account's)
//	--session    SEATKEEPER_SESSION    the SharedSession's name (default: generated from the holder)
//	--priority   SEATKEEPER_PRIORITY   queue priority
//	--licences   SEATKEEPER_LICENCES   how many licences to take at once, all or none (default 1; the session's spec.count)
//	--release    SEATKEEPER_RELEASE    terminate (default: end the session, keep the record) or delete
//	--listen     SEATKEEPER_LISTEN     HTTP address (default :8090)
//
// HTTP: GET /readyz (200 while held), GET /healthz, GET /status (JSON: session, phase,
// position, reason, message; while under notice endsAt, reason Preempted or CapacityReduced
// and preemptedBy; overdraft true while it holds licences beyond the pool's limit),
// POST /state with {"state":"Idle|Connected","peer":"..."}. It logs each notice once: when
// the licence goes back and why.
// It exits 0 after a release on SIGTERM or SIGINT, or when the process that started it exits,
// and 1 with the reason when the operator ends the session.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/seatkeeper/seatkeeper/internal/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		os.Stderr.WriteString("seatkeeper-agent: no cluster configuration: " + err.Error() + "\n")
		os.Exit(2)
	}
	// A parent that dies (the shell or `go run` that started the agent) counts as SIGTERM.
	ctx, stopWatching := sidecar.WatchParent(ctx, os.Getppid, time.Second)
	code := sidecar.Run(ctx, os.Args[1:], os.Getenv, cfg, os.Stdout, os.Stderr, nil)
	stopWatching()
	stop()
	os.Exit(code)
}
