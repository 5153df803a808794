#!/usr/bin/env bash
# envtest-assets.sh prints the directory that holds kube-apiserver and etcd for envtest,
# providing them first when the cache does not have them yet.
#
# Order of preference:
#   1. KUBEBUILDER_ASSETS, when it already names a directory holding both binaries;
#   2. the cache, ${SEATKEEPER_CACHE:-$HOME/.cache/seatkeeper}/envtest/<versions>, kept outside
#      the clone so every checkout and CI run on a machine reuses it;
#   3. setup-envtest, when the network lets it download the release binaries;
#   4. a build from Go modules through the module proxy (the only route on a machine that
#      reaches nothing else): kube-apiserver from k8s.io/kubernetes in a scratch module whose
#      staging modules are replaced by their published versions, etcd from go.etcd.io/etcd/server.
#
# Only the path is printed on stdout; progress goes to stderr.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-release-0.22}
cache_root=${SEATKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seatkeeper}
dir="$cache_root/envtest/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"

log() { echo "envtest-assets: $*" >&2; }
have() { [ -f "$1/kube-apiserver" ] && [ -x "$1/kube-apiserver" ] && [ -f "$1/etcd" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have "$KUBEBUILDER_ASSETS"; then
	echo "$KUBEBUILDER_ASSETS"
	exit 0
fi
if have "$dir"; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9 # one builder at a time; the others wait and reuse its result
if have "$dir"; then
	echo "$dir"
	exit 0
fi

staging=$(mktemp -d)
trap 'chmod -R u+w "$staging" 2>/dev/null; rm -rf "$staging"' EXIT

# setup-envtest fetches its index and the binaries from GitHub. Where GitHub cannot be reached
# at all (a machine that reaches only the Go module proxy), building and running it would only
# spend a minute finding that out: a five-second probe decides first.
reachable() { timeout 5 bash -c "</dev/tcp/$1/443" 2>/dev/null; }
if [ -z "${SEATKEEPER_NO_DOWNLOAD:-}" ] && ! reachable raw.githubusercontent.com; then
	log "GitHub is out of reach: building from Go modules (first time about 8 minutes)"
	SEATKEEPER_NO_DOWNLOAD=1
fi
if [ -z "${SEATKEEPER_NO_DOWNLOAD:-}" ]; then
	log "trying setup-envtest $SETUP_ENVTEST_VERSION for Kubernetes $KUBE_VERSION"
	if got=$(timeout 120 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
		use "$KUBE_VERSION" --bin-dir "$staging/setup" -p path 2>/dev/null) && have "$got"; then
		cp "$got/kube-apiserver" "$got/etcd" "$dir/"
		log "downloaded into $dir"
		echo "$dir"
		exit 0
	fi
	log "setup-envtest could not download; building from Go modules (first time about 8 minutes)"
fi

export GOFLAGS=-mod=mod
export CGO_ENABLED=0

# etcd builds in the background while kube-apiserver downloads and builds: its modules download
# while the other compiles.
build_etcd() {
	emod="$staging/etcd-module"
	mkdir -p "$emod"
	(
		cd "$emod"
		go mod init seatkeeper.local/envtest-etcd >/dev/null 2>&1
		printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
		go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
		go mod tidy >&2
		go build -o "$staging/bin/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
	)
	log "built etcd v$ETCD_VERSION"
}
build_etcd >"$staging/etcd.log" 2>&1 &
etcd_pid=$!

# kube-apiserver: k8s.io/kubernetes refers to its staging modules by relative path, so a scratch
# module must replace each with the published module of the matching v0 version.
kmod="$staging/kube-module"
mkdir -p "$kmod"
gomod=$(cd "$kmod" && go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
	echo "module seatkeeper.local/envtest-kube"
	echo
	echo "go 1.25"
	echo
	echo "require k8s.io/kubernetes v$KUBE_VERSION"
	echo
	grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging/' "$gomod" |
		awk -v v="v0.${KUBE_VERSION#1.}" '{print "replace " $1 " => " $1 " " v}'
} >"$kmod/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$kmod/tools.go"
major=1
minor=${KUBE_VERSION#1.}
minor=${minor%%.*}
(
	cd "$kmod"
	go mod tidy >&2
	go build -o "$staging/bin/kube-apiserver" \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor" \
		k8s.io/kubernetes/cmd/kube-apiserver
)
log "built kube-apiserver v$KUBE_VERSION"

if ! wait "$etcd_pid"; then
	cat "$staging/etcd.log" >&2
	log "building etcd failed"
	exit 1
fi
cat "$staging/etcd.log" >&2

mv "$staging/bin/kube-apiserver" "$staging/bin/etcd" "$dir/"
echo "$dir"
