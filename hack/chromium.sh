#!/usr/bin/env bash
# chromium.sh prints the path of the Chromium that the portal's browser tests drive
# (test/portal), installing Debian's chromium package and a font with apt-get when the machine
# has none. `make test` and .ci/run call it.
#
# Order of preference: CHROMIUM when it names a program; chromium, chromium-browser or
# google-chrome on PATH; else apt-get install chromium fonts-dejavu-core (as root, or with sudo).
# Only the path is printed on stdout; progress goes to stderr.
set -euo pipefail

for name in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
	if [ -n "$name" ] && path=$(command -v "$name" 2>/dev/null); then
		echo "$path"
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium.sh: no Chromium found and no apt-get to install one: install Chromium, or set CHROMIUM to its path" >&2
	exit 1
fi
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "chromium.sh: installing Debian's chromium package for the portal's browser tests" >&2
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
command -v chromium
