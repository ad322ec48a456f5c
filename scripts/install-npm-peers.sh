#!/usr/bin/env bash
# Install the npm test peers (tests/peers/npm/package.json, or the package.json given as
# the first argument) into a cache folder outside the clone, keyed by a hash of
# package.json, and print that folder. Idempotent: a complete install is reused. Override
# the cache folder with VMS_CACHE_DIR.
# Licence: AGPL-3.0-or-later.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec="${1:-$here/tests/peers/npm/package.json}"
command -v node >/dev/null || { echo "install-npm-peers: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-npm-peers: npm is not installed" >&2; exit 1; }
key=$(sha256sum "$spec" | cut -c1-16)
cache="${VMS_CACHE_DIR:-$HOME/.cache/vms}"
target="$cache/npm-$key"
if [ ! -f "$target/.complete" ]; then
    echo "install-npm-peers: installing into $target" >&2
    mkdir -p "$cache"
    work=$(mktemp -d "$cache/npm-tmp.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cp "$spec" "$work/package.json"
    (cd "$work" && npm install --no-audit --no-fund --loglevel=error >&2)
    rm -rf "$target"
    mv "$work" "$target"
    trap - EXIT
    touch "$target/.complete"
fi
echo "$target"
