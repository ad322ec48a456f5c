"""``vms serve`` as a real subprocess: what it prints on start (#10.16)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from vms.config import Config
from web.server import DEMO_PASSWORD

pytestmark = pytest.mark.timeout(180)


def serve_until(config: Config, *args: str, until: str, timeout: float = 120.0) -> str:
    """Run ``vms serve ARGS`` until a line of its stdout contains ``until``; then stop it
    (by its pid) and return everything it printed on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vms.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="serve-stdout", daemon=True)
    reader.start()
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"vms serve exited ({proc.poll()}) before {until!r}: {out}")
            out.append(line)
            if until in line:
                return "".join(out)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_real_start_prints_no_demo_password(config: Config) -> None:
    """Without ``--demo`` the media role starts and the server listens, and nothing
    mentions the demo users or their password (#10.16)."""
    out = serve_until(config, until="VMS listening on")
    assert DEMO_PASSWORD not in out and "demo users" not in out


def test_a_demo_start_prints_the_demo_users(config: Config) -> None:
    """``--demo`` shows the newcomer the demo users and their password."""
    out = serve_until(config, "--demo", "--role", "web", until="demo users")
    assert DEMO_PASSWORD in out and "officer (officer)" in out
