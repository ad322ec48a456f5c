#!/usr/bin/env bash
# Run every benchmark of issue 2 (bench/README.md), one after the other.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
V="${V:-$(bash scripts/venv.sh 2>/dev/null)}"
py="$V/bin/python"

echo "== ingest (bench/bench_ingest.py)"
"$py" bench/bench_ingest.py
echo
echo "== upload (bench/bench_upload.py)"
"$py" bench/bench_upload.py
echo
echo "== catalog (bench/bench_catalog.py --backend both)"
"$py" bench/bench_catalog.py --backend both
echo
echo "== playback playlist (bench/playlist.py --backend both)"
"$py" bench/playlist.py --backend both
echo
echo "== event bus (bench/bench_events.py)"
"$py" bench/bench_events.py
echo
echo "== over-masking while moving (bench/bench_overmask.py)"
"$py" bench/bench_overmask.py
echo
echo "== redaction (bench/bench_redaction.py --backend both)"
"$py" bench/bench_redaction.py --backend both
echo
echo "== backup sets (bench/bench_backup.py)"
"$py" bench/bench_backup.py
echo
echo "== content serving per request (bench/bench_content.py)"
"$py" bench/bench_content.py
