#!/usr/bin/env bash
# run.sh runs the seatkeeper operator in the foreground for development; `make run` calls it
# after `make manifests generate`.
#
# - When the cluster of the current kubeconfig (KUBECONFIG or ~/.kube/config) answers within 3s
#   and LOCAL is not 1: install the CRDs there (kubectl apply --server-side) and run the operator
#   against it, with what `make deploy` installs besides the Deployment: the privilege roles and
#   the agents' admission policy. Samples are not applied to a real cluster:
#   `kubectl apply -k config/samples`.
# - Otherwise: start a throwaway control plane with hack/localcluster (etcd and kube-apiserver
#   from hack/envtest-assets.sh), which installs the CRDs, the same roles and policy, creates
#   config/samples, writes
#   tmp/local/kubeconfig, prints the `export KUBECONFIG=…` line and runs the operator.
# Ctrl-C stops the operator and the control plane, and leaves no process behind.
#
# Environment:
#   LOCAL=1          use a local control plane even when a cluster answers
#   METRICS_ADDR     the operator's metrics address (default :8080)
#   PROBE_ADDR       the operator's /healthz and /readyz address (default :8081)
#   OPERATOR_ARGS    more flags for the operator, e.g. OPERATOR_ARGS='--pool-workers=8 --zap-devel'
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "run: $*" >&2; }

# What `make deploy` installs besides the CRDs and the operator's Deployment: the privilege roles
# (seatkeeper-reports, -licenses, -supervisor, -partner, -agent), the `manage` verb that exempts
# the operator and the Kubernetes controllers from the agents' admission policy, and that policy.
# With them the README's "who may do what" examples, and the plugin's advice to a refused user,
# are what a real install gives.
cluster_manifests=(
	config/rbac/privilege_roles.yaml
	config/rbac/manager_sessions_role.yaml
	config/admission/agent_sessions_policy.yaml
	config/admission/kube_controllers_sessions.yaml
)

read -r -a extra_args <<<"${OPERATOR_ARGS:-}"
operator=(bin/manager
	--metrics-bind-address="${METRICS_ADDR:-:8080}"
	--health-probe-bind-address="${PROBE_ADDR:-:8081}"
	${extra_args[@]+"${extra_args[@]}"})

# Built binaries rather than `go run`: a signal then reaches the operator itself, not a go
# command that would have to pass it on.
log "building bin/manager, bin/localcluster and bin/kubectl-licenses (the plugin, for the portal)"
go build -o bin/manager .
go build -o bin/localcluster ./hack/localcluster
go build -o bin/kubectl-licenses ./cmd/kubectl-licenses

if [ "${LOCAL:-}" != 1 ] && bin/localcluster -reachable -timeout 3s; then
	if ! command -v kubectl >/dev/null 2>&1; then
		log "kubectl is needed to install the CRDs on that cluster: install it, or run 'LOCAL=1 make run' for a local control plane"
		exit 1
	fi
	log "installing the CRDs on that cluster (LOCAL=1 make run uses a local control plane instead)"
	kubectl apply --server-side --field-manager=seatkeeper-make-run -f config/crd/bases
	kubectl wait --for=condition=Established --timeout=60s -f config/crd/bases >/dev/null
	log "installing the privilege roles and the agents' admission policy"
	for f in "${cluster_manifests[@]}"; do
		kubectl apply --server-side --field-manager=seatkeeper-make-run -f "$f"
	done
	log "running the operator; Ctrl-C stops it"
	exec "${operator[@]}"
fi

if [ "${LOCAL:-}" = 1 ]; then
	log "LOCAL=1: starting a throwaway control plane"
else
	log "no cluster answers: starting a throwaway control plane"
fi
log "providing kube-apiserver and etcd (the first time this builds them, about 8 minutes)"
assets=$(./hack/envtest-assets.sh)
manifests=$(IFS=,; echo "${cluster_manifests[*]}")
exec bin/localcluster -assets "$assets" -dir tmp/local -crds config/crd/bases -manifests "$manifests" -samples config/samples -- "${operator[@]}"
