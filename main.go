// Command manager runs the seatkeeper operator: the controllers that grant seats and shared
// licences, end sessions on their deadlines and add ordered capacity to pools.
package main

import (
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/controllers"
	"github.com/seatkeeper/seatkeeper/internal/cachetransform"
	"github.com/seatkeeper/seatkeeper/internal/memtrim"
)

func main() {
	var (
		metricsAddr   string
		probeAddr     string
		leaderElect   bool
		leaderElectNS string
		qps           float64
		burst         int
		poolWorkers   int
		pprofAddr     string
		trimMemory    bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "Namespace of the leader-election Lease (default: the pod's namespace).")
	// A licence server answers every agent log-in with a status write, and a freed licence
	// with one more; client-go's defaults (20 QPS, burst 30) would cap grants near 20/s while
	// the API server takes several hundred status writes a second. 500/1000 leave the API
	// server's own priority and fairness as the limit, which is where it belongs.
	flag.Float64Var(&qps, "kube-api-qps", 500, "Requests per second the operator's client may send to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 1000, "Burst of requests above kube-api-qps the client may send.")
	flag.IntVar(&poolWorkers, "pool-workers", 4, "Pools reconciled in parallel.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address for Go's pprof profiles (/debug/pprof); empty disables them.")
	flag.BoolVar(&trimMemory, "trim-memory", true, "Return memory to the system once a burst of work (start-up, a storm of grants) is over, rather than minutes later.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(licensingv1alpha1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS = float32(qps)
	cfg.Burst = burst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "seatkeeper.licensing.seatkeeper.io",
		LeaderElectionNamespace: leaderElectNS,
		// Replicas waiting for the lease hand over at once when the leader stops cleanly.
		LeaderElectionReleaseOnCancel: true,
		// Dropping managedFields and sharing repeated strings keeps the cache small.
		Cache: cache.Options{DefaultTransform: cachetransform.New()},
	})
	if err != nil {
		log.Error(err, "unable to create manager")
		os.Exit(1)
	}
	if err := controllers.Setup(mgr, controllers.Options{PoolWorkers: poolWorkers}); err != nil {
		log.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	if trimMemory {
		go memtrim.Default.Run(ctx)
	}
	log.Info("starting manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
