#!/usr/bin/env bash
# kube-api-linter.sh checks the API types in api/ against the Kubernetes API conventions with
# kube-api-linter (sigs.k8s.io/kube-api-linter), the way Cluster API does: a golangci-lint binary
# with the linter compiled in as a module plugin, run with the rules of .golangci-kal.yml.
#
# The binary is built once per machine from the Go module proxy (the only route a machine here
# may have) into ${SEATKEEPER_CACHE:-$HOME/.cache/seatkeeper}/kal/<version>/<go version>/, so that
# every checkout and CI run reuses it; the first build takes about 2 to 4 minutes on 2 cores. It is
# built outside this module (go install pkg@version in a scratch directory), so go.mod and go.sum
# do not change. It is keyed by the Go toolchain too: golangci-lint type-checks with the standard
# library it was built with, so a newer Go needs a new build.
#
# Usage:
#   hack/kube-api-linter.sh                 lint ./api/...; exits non-zero on any finding
#   hack/kube-api-linter.sh --fix           the same, applying the fixes the linter suggests
#   hack/kube-api-linter.sh --build-only    only provide the binary, and print its path
set -euo pipefail

# A pseudo-version: kube-api-linter has no releases. Newer ones: go list -m sigs.k8s.io/kube-api-linter@latest
KAL_VERSION=${KAL_VERSION:-v0.0.0-20260716143926-092fe0c72997}
cache_root=${SEATKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seatkeeper}
dir="$cache_root/kal/$KAL_VERSION/$(go env GOVERSION)"
bin="$dir/golangci-lint-kube-api-linter"

log() { echo "kube-api-linter: $*" >&2; }

if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9 # one builder at a time; the others wait and reuse its result
	if [ ! -x "$bin" ]; then
		log "building golangci-lint with kube-api-linter $KAL_VERSION from Go modules (first time on this machine: about 2 to 4 minutes)"
		staging=$(mktemp -d)
		trap 'chmod -R u+w "$staging" 2>/dev/null; rm -rf "$staging"' EXIT
		start=$(date +%s)
		(
			cd "$staging"
			GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 GOBIN="$staging/bin" \
				go install "sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter@$KAL_VERSION"
		)
		mv "$staging/bin/golangci-lint-kube-api-linter" "$bin"
		log "built $bin in $(($(date +%s) - start))s"
	fi
	exec 9>&-
fi

if [ "${1:-}" = --build-only ]; then
	echo "$bin"
	exit 0
fi

cd "$(dirname "$0")/.."
exec "$bin" run --config .golangci-kal.yml "$@" ./api/...
