"""``simulate-camera``: argparse registration, and the standalone module end to end."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from onvif_control.simulator.cli import PLAY_STARTS, register
from onvif_control.simulator.rtsp_server import PlayStart

pytestmark = pytest.mark.timeout(60)


def test_register_adds_the_subcommand_with_its_options():
    parser = argparse.ArgumentParser(prog="vms")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate-camera", "--count", "2", "--size", "640x360", "--fps", "10", "--onvif-port", "0"]
    )
    assert args.count == 2 and args.size == (640, 360) and args.fps == 10 and args.onvif_port == 0
    assert args.rtsp_port == 8554 and args.host == "127.0.0.1" and callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate-camera", "--size", "big"])
    assert args.play_start == "idr"
    assert parser.parse_args(["simulate-camera", "--play-start", "p_frames"]).play_start == (
        "p_frames"
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate-camera", "--play-start", "later"])
    assert tuple(PlayStart) == PLAY_STARTS  # the parser's list is the simulator's


def test_module_prints_ready_lines_and_stops_on_sigint(tmp_path):
    scene = tmp_path / "scene.toml"
    scene.write_text(
        'seed = 5\n[[private_zones]]\nname = "z"\npolygon = [[1.0, 1.0], [5.0, 1.0], [5.0, 4.0]]\n',
        encoding="utf-8",
    )
    log = (tmp_path / "stderr.log").open("w")
    command = [
        sys.executable, "-m", "onvif_control.simulator", "--count", "2", "--onvif-port", "0",
        "--rtsp-port", "0", "--size", "160x96", "--fps", "10", "--password", "cli-pw",
        "--scene", str(scene),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        log,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, env=env
        ) as process,
    ):
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(2)]
            pattern = re.compile(
                r"^ONVIF (http://127\.0\.0\.1:\d+/onvif/device_service) RTSP (rtsp://127\.0\.0\.1:\d+/\S+)$"
            )
            matches = [pattern.match(line.strip()) for line in lines]
            assert all(matches), (lines, (tmp_path / "stderr.log").read_text())
            first = matches[0]
            assert first is not None
            state_url = first.group(1).replace("/onvif/device_service", "/sim/state")
            state = httpx.get(state_url, timeout=5).json()
            assert [z["name"] for z in state["private_zones"]] == ["z"]
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
            assert time.monotonic() - started < 15
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(5)


def test_bad_scene_file_is_an_error_exit(tmp_path):
    scene = tmp_path / "scene.toml"
    scene.write_text("colour = 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "onvif_control.simulator", "--scene", str(scene)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown key" in result.stdout


def test_simulator_is_independent_of_the_privacy_mask_code():
    """The ground truth must not share code with what it checks."""
    code = (
        "import sys, onvif_control.simulator, onvif_control.simulator.cli; "
        "bad = sorted(m for m in sys.modules if m.startswith('privacy_masks')); "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
