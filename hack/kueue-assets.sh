#!/usr/bin/env bash
# kueue-assets.sh prints a directory that holds what tests need to run the real Kueue against an
# envtest API server, providing it first when the cache does not have it yet:
#
#   <dir>/minimalkueue   Kueue's core controllers and scheduler without webhooks, built from
#                        sigs.k8s.io/kueue/test/performance/scheduler/minimalkueue;
#   <dir>/crd/*.yaml     Kueue's CRDs, copied from the module's config/components/crd/bases.
#
# Order of preference:
#   1. KUEUE_ASSETS, when it already names a directory holding both;
#   2. the cache, ${SEATKEEPER_CACHE:-$HOME/.cache/seatkeeper}/kueue/v<version>, kept outside the
#      clone so every checkout and CI run on a machine reuses it;
#   3. a build from the Go module proxy (first time about 3 to 6 minutes). Kueue's go.mod has no
#      replace directives, so `go install pkg@version` builds with exactly Kueue's own
#      dependency versions, independent of this repository's go.mod.
#
# Only the path is printed on stdout; progress goes to stderr.
set -euo pipefail

KUEUE_VERSION=${KUEUE_VERSION:-0.19.2}
KUEUE_VERSION=v${KUEUE_VERSION#v}
cache_root=${SEATKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seatkeeper}
dir="$cache_root/kueue/$KUEUE_VERSION"

log() { echo "kueue-assets: $*" >&2; }
have() { [ -f "$1/minimalkueue" ] && [ -x "$1/minimalkueue" ] && [ -f "$1/crd/kueue.x-k8s.io_workloads.yaml" ]; }

if [ -n "${KUEUE_ASSETS:-}" ] && have "$KUEUE_ASSETS"; then
	echo "$KUEUE_ASSETS"
	exit 0
fi
if have "$dir"; then
	echo "$dir"
	exit 0
fi

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9 # one builder at a time; the others wait and reuse its result
if have "$dir"; then
	echo "$dir"
	exit 0
fi

# Staged beside the target so the final mv is a rename on the same filesystem.
staging=$(mktemp -d "$(dirname "$dir")/.staging.XXXXXX")
trap 'chmod -R u+w "$staging" 2>/dev/null; rm -rf "$staging"' EXIT

# Run outside any module so neither this repository's go.mod nor a go.work takes part.
cd "$staging"
export GOWORK=off
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log "downloading sigs.k8s.io/kueue@$KUEUE_VERSION"
moddir=$(go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
if [ -z "$moddir" ] || [ ! -d "$moddir/config/components/crd/bases" ]; then
	log "sigs.k8s.io/kueue@$KUEUE_VERSION has no config/components/crd/bases"
	exit 1
fi
mkdir -p "$staging/out/crd"
cp "$moddir"/config/components/crd/bases/*.yaml "$staging/out/crd/"
chmod -R u+w "$staging/out/crd"

log "building minimalkueue from sigs.k8s.io/kueue@$KUEUE_VERSION (first time about 3 to 6 minutes)"
GOBIN="$staging/bin" go install -trimpath -ldflags "-s -w" \
	"sigs.k8s.io/kueue/test/performance/scheduler/minimalkueue@$KUEUE_VERSION"
mv "$staging/bin/minimalkueue" "$staging/out/minimalkueue"
log "built minimalkueue $KUEUE_VERSION"

# Replace the target as a whole so a reader never sees a half-filled directory.
rm -rf "$dir"
mv "$staging/out" "$dir"
echo "$dir"
