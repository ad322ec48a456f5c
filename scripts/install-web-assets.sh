#!/usr/bin/env bash
# Install the pages' browser libraries (web/assets/package.json: hls.js) from npm through
# scripts/install-npm-peers.sh (cached outside the clone) and copy their dist files into
# web/static/vendor/, where the app serves them (CSP script-src 'self': no CDN).
# Idempotent; run by scripts/test and scripts/demo, and by the browser tests' fixture.
# Licence: AGPL-3.0-or-later.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
modules="$(bash "$here/scripts/install-npm-peers.sh" "$here/web/assets/package.json")/node_modules"
vendor="$here/web/static/vendor"
mkdir -p "$vendor"
# hls.js: the HLS player of the playback page (Apache-2.0; its licence travels with it).
for f in hls.min.js; do
    if ! cmp -s "$modules/hls.js/dist/$f" "$vendor/$f"; then
        install -m 0644 "$modules/hls.js/dist/$f" "$vendor/$f.tmp"
        mv "$vendor/$f.tmp" "$vendor/$f"
    fi
done
install -m 0644 "$modules/hls.js/LICENSE" "$vendor/hls.js.LICENSE"
echo "$vendor"
