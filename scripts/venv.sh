#!/usr/bin/env bash
# Prepare (or reuse) the project's virtual environment and print its path.
#
# The environment lives outside the clone, in a cache folder keyed by a hash of what
# decides the installed packages (the dependency lists of pyproject.toml, constraints.txt
# and LAYOUT below), so a fresh clone (CI) reuses it instead of reinstalling everything.
# Override the cache folder with VMS_CACHE_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

LAYOUT=3  # bump when the way the venv is built changes
python="${PYTHON:-python3}"
key=$(
    {
        echo "layout $LAYOUT"
        "$python" - <<'PY'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(p["requires-python"], p["dependencies"], p.get("optional-dependencies"))
PY
        if [ -f constraints.txt ]; then cat constraints.txt; fi
    } | sha256sum | cut -c1-16
)
cache="${VMS_CACHE_DIR:-$HOME/.cache/vms}"
venv="$cache/venv-$key"

quiet_pip() {
    # pip's configuration here names local indexes that may not exist: drop that noise.
    local log
    log=$(mktemp)
    if ! "$venv/bin/pip" "$@" >"$log" 2>&1; then
        grep -v "^WARNING: Location" "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

if [ ! -f "$venv/.complete" ]; then
    echo "venv: creating $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    quiet_pip install -q --upgrade pip "setuptools>=77" wheel
    constraint=()
    if [ -f constraints.txt ]; then constraint=(-c constraints.txt); fi
    quiet_pip install -q "${constraint[@]}" ".[dev]"
    # ipycam: an ONVIF PTZ camera not written here, a test peer (issue 4). Without its
    # dependencies: it wants opencv for frames, which the tests do not stream.
    quiet_pip install -q --no-deps ipycam==1.3.0
    touch "$venv/.complete"
fi
# The project itself is installed editable from this checkout on every run (seconds):
# the cached venv is shared between clones.
quiet_pip install -q --no-deps --no-build-isolation -e .
echo "$venv"
