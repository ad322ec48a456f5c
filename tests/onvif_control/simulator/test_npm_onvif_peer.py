"""A client not written here, the npm package ``onvif``, drives the simulated camera.

The peer is installed by ``scripts/install-npm-peers.sh`` into a cache folder outside the
clone. Nothing is skipped: without node/npm (or the package) this test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import PASSWORD, USERNAME

ROOT = Path(__file__).resolve().parents[3]
PEER = ROOT / "tests" / "peers" / "npm" / "onvif_peer.js"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def npm_modules() -> Path:
    node = shutil.which("node")
    assert node, "node is required for the npm ONVIF peer (install nodejs and npm)"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-npm-peers.sh")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    modules = Path(result.stdout.strip().splitlines()[-1]) / "node_modules"
    assert (modules / "onvif" / "package.json").is_file(), f"onvif not installed in {modules}"
    return modules


def test_npm_onvif_connects_gets_the_stream_uri_moves_and_stops(camera, npm_modules):
    before = camera.state()["pose"]
    result = subprocess.run(
        ["node", str(PEER), "127.0.0.1", str(camera.onvif_port), USERNAME, PASSWORD],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NODE_PATH": str(npm_modules)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["uri"] == camera.rtsp_url
    assert report["profile"] == "profile_1"
    assert report["moving"]["panTilt"] == "MOVING"
    assert report["stopped"]["panTilt"] == "IDLE"
    after = camera.state()
    assert not after["moving"]["pan_tilt"]
    # 0.4 s or a little more at half of 90 deg/s.
    assert after["pose"]["pan"] - before["pan"] == pytest.approx(18.0, abs=8.0)


def test_npm_onvif_with_a_wrong_password_fails(camera, npm_modules):
    result = subprocess.run(
        ["node", str(PEER), "127.0.0.1", str(camera.onvif_port), USERNAME, "wrong"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NODE_PATH": str(npm_modules)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "NotAuthorized" in result.stderr or "Authorized" in result.stderr
