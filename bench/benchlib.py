"""Helpers shared by the benchmarks: generated media, statistics, formatting.

Not a test helper and not product code: the benchmarks import it as a sibling module
(``python bench/bench_ingest.py`` puts ``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"  # gitignored
ROOT = BENCH_DIR.parent

if str(ROOT) not in sys.path:  # run from anywhere without installing the project
    sys.path.insert(0, str(ROOT))

GIB = 1024**3
MB = 1_000_000

# Raw 176x144 yuv420p frames (38,016 bytes) at 30 fps: about 28,000 packets per GiB,
# the packet count of a ~15-minute body-camera recording at ~9 Mbit/s, so the probe's
# demux pass costs what it would on a real file of that size.
_WIDTH, _HEIGHT, _FPS = 176, 144, 30


def source_media(size: int = GIB, name: str | None = None) -> Path:
    """A Matroska file of about ``size`` bytes that the probe accepts, cached in bench/out/.

    Rawvideo is used because it is generated at disk speed (no encoder in the loop).
    """
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / (name or f"source-{size // 1024**2}MiB.mkv")
    if path.is_file() and path.stat().st_size >= size * 0.99:
        return path
    tmp = path.with_suffix(".partial")
    frame_bytes = _WIDTH * _HEIGHT * 3 // 2
    count = -(-size // frame_bytes)
    print(f"generating {path} ({count} frames)...", flush=True)
    rng = np.random.default_rng(2)
    planes = [rng.integers(0, 255, (_HEIGHT * 3 // 2, _WIDTH), dtype=np.uint8) for _ in range(64)]
    container = av.open(str(tmp), "w", format="matroska")
    try:
        stream = container.add_stream("rawvideo", rate=_FPS)
        stream.width, stream.height = _WIDTH, _HEIGHT
        stream.pix_fmt = "yuv420p"
        for i in range(count):
            plane = planes[i % len(planes)]
            plane[0, :8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)  # unique
            frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    tmp.rename(path)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024**2):
            digest.update(chunk)
    return digest.hexdigest()


def sync() -> None:
    """Flush every dirty page (as `sync` does) so one measurement does not pay for another."""
    subprocess.run(["sync"], check=True)


@contextmanager
def timer(into: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - start


def timed(fn: Callable[..., Any], phases: dict[str, float], key: str) -> Callable[..., Any]:
    """``fn`` wrapped (not replaced) so its time adds up under ``phases[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with timer(phases, key):
            return fn(*args, **kwargs)

    return wrapper


# The PostgreSQL server the benchmarks create their databases on.
PG_ADMIN_URL = os.environ.get(
    "VMS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pg_admin(sql: str) -> None:
    """A statement on the admin database of PG_ADMIN_URL (CREATE/DROP DATABASE)."""
    from tests.peers import postgres  # only the benchmarks that use PostgreSQL load it

    postgres.admin(PG_ADMIN_URL, sql)


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A new database ``name`` on PG_ADMIN_URL for one run (its URL), dropped after."""
    from tests.peers import postgres

    with postgres.database(PG_ADMIN_URL, name) as url:
        yield url


@contextmanager
def postgres_services(work: Path, name: str) -> Iterator[Any]:
    """Services (migrated) on a new PostgreSQL database ``name`` with their data folder
    in ``work``/main (``work`` emptied first); closed and the database dropped after."""
    from vms.config import load_config
    from vms.services import Services

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with postgres_database(name) as url:
        overrides = {"VMS_DATA_DIR": str(work / "main"), "VMS_DATABASE_URL": url}
        services = Services.open(load_config(environ={}, overrides=overrides))
        try:
            services.migrate()
            quiet_logs()
            yield services
        finally:
            services.close()


def officer_token(services: Any, badge: str = "B900") -> str:
    """An API token of a new officer ``bench-officer`` with ``badge``."""
    from vms.audit.log import SYSTEM_ROLE, Who

    by = Who("bench", SYSTEM_ROLE)
    user = services.users.add_user(
        "bench-officer", "officer", "bench-password-1", badge=badge, by=by
    )
    actor = services.users.actor_by_id(user.id)
    assert actor is not None
    return str(services.users.issue_token(actor).token)


def quiet_logs() -> None:
    """Keep the product's INFO logs (migrations, each ingest) out of the figures."""
    logging.disable(logging.INFO)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(size: int, seconds: float) -> str:
    return f"{size / seconds / MB:7.1f} MB/s"


def machine() -> str:
    return f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}"


def cpu_pressure() -> str:
    """How much others compete for the CPU (Linux PSI: share of time some task waited)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "cpu pressure unknown"
    fields = dict(f.split("=") for f in line.split()[1:])
    load = os.getloadavg()[0]
    return f"load {load:.1f}, cpu pressure (some, 60 s) {fields.get('avg60', '?')}%"


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"
