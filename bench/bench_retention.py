"""Retention benchmarks (issue 6): purge throughput and expiry recomputation.

    python bench/bench_retention.py [--backend sqlite|postgresql|both]
                                    [--purge-items 100000] [--recompute-items 1000000]

Targets: purging 100,000 expired items on local disk at >= 1,000 items/s on SQLite and
PostgreSQL; recomputing the expiry of 1,000,000 items in < 60 s. The recompute is timed
twice: the first computation (no stored expiries: every row inserted, as after the 0002
migration) and a recompute after a policy change (fixed 30 -> 45 days, evidence 4 -> 5
years: nearly every stored expiry rewritten).

Setup is not what is measured, so it is fast: rows are bulk-inserted and the small real
files are written straight into the store's content-addressed layout, not through the
full ingest path (no probing, no per-item transaction). The purge itself is the real
one: intents, unlinks, directory fsyncs, destruction records, audit, in batches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retention.plugin import get
from retention.rules import RetentionPolicy
from vms.clock import ManualClock
from vms.config import load_config
from vms.db.models import Device, MediaCategory, MediaExpiry, MediaHold, MediaItem
from vms.services import Services

PG_ADMIN = os.environ.get(
    "VMS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
CHUNK = 10_000


def pg_admin(sql: str) -> None:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


class Env:
    """A fresh data dir and database for one backend."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend = backend
        self.data_dir = root / backend
        self.pg_name: str | None = None
        if backend == "sqlite":
            url = f"sqlite:///{self.data_dir / 'vms.db'}"
        else:
            self.pg_name = f"vms_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            pg_admin(f'CREATE DATABASE "{self.pg_name}"')
            url = str(sa.make_url(PG_ADMIN).set(database=self.pg_name).render_as_string(False))
        config = load_config(
            environ={},
            overrides={
                "VMS_DATA_DIR": str(self.data_dir),
                "VMS_DATABASE_URL": url,
                "VMS_INGEST_MIN_FREE_BYTES": "0",
                "VMS_RETENTION_DISK_ALARM_FREE_BYTES": "0",
            },
        )
        self.clock = ManualClock(NOW)
        self.services = Services.open(config, clock=self.clock)
        self.services.migrate()
        with self.services.db.transaction() as s:
            s.add(Device(id="CAM-B", kind="fixed", name="bench", created_at=NOW))

    def close(self) -> None:
        self.services.close()
        if self.pg_name:
            pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def row(i: int, sha: str, size: int, recorded: dt.datetime) -> dict:
    return {
        "id": str(uuid.UUID(int=(i + 1) << 64 | 0x7 << 76 | i)),
        "source": "fixed",
        "media_type": "video",
        "content_type": "video/mp4",
        "device_id": "CAM-B",
        "officer_badge": None,
        "recorded_start": recorded,
        "recorded_end": recorded + dt.timedelta(seconds=60),
        "duration_seconds": 60.0,
        "codec": "h264",
        "width": 1280,
        "height": 720,
        "size_bytes": size,
        "sha256": sha,
        "original_filename": None,
        "title": None,
        "case_number": None,
        "incident_number": None,
        "incident_type": None,
        "evidence": False,
        "restricted": False,
        "derived_from_id": None,
        "ingested_at": recorded,
        "ingested_by": "bench",
        "recorded_start_origin": "container",
    }


def insert_rows(env: Env, rows: list[dict], expires: list[dt.datetime] | None = None) -> None:
    """Media rows, with their stored expiries (rule RET-1) when ``expires`` is given."""
    with env.services.db.transaction() as s:
        s.execute(sa.insert(MediaItem), rows)
        if expires is not None:
            s.execute(
                sa.insert(MediaExpiry),
                [
                    {"media_id": r["id"], "expires_at": e, "retention_rule": "RET-1 fixed 30 days"}
                    for r, e in zip(rows, expires, strict=True)
                ],
            )


def bench_purge(env: Env, n: int) -> float:
    store = env.services.store
    store.create_dirs()
    recorded = NOW - dt.timedelta(days=31)
    t0 = time.perf_counter()
    rows: list[dict] = []
    expires = recorded + dt.timedelta(days=30)
    for i in range(n):
        data = b"bench segment %d\n" % i
        sha = hashlib.sha256(data).hexdigest()
        path = store.path_for(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o444)
        rows.append(row(i, sha, len(data), recorded))
        if len(rows) == CHUNK:
            insert_rows(env, rows, [expires] * len(rows))
            rows = []
    if rows:
        insert_rows(env, rows, [expires] * len(rows))
    setup = time.perf_counter() - t0
    print(
        f"  setup: {n} rows bulk-inserted and {n} small files written directly "
        f"({setup:.1f} s, not the ingest path)"
    )

    t0 = time.perf_counter()
    report = get(env.services).purger.run()
    elapsed = time.perf_counter() - t0
    assert report.purged == n, report
    with env.services.db.session() as s:
        left = s.execute(sa.select(sa.func.count()).select_from(MediaItem)).scalar_one()
    assert left == 0 and not any(store.iter_objects())
    rate = n / elapsed
    verdict = "OK" if rate >= 1000 else "BELOW TARGET"
    print(
        f"  purge: {n} items in {elapsed:.1f} s = {rate:,.0f} items/s (target >= 1,000) {verdict}"
    )
    return rate


def bench_recompute(env: Env, n: int) -> float:
    recorded = NOW - dt.timedelta(days=10)
    t0 = time.perf_counter()
    rows: list[dict] = []
    cats: list[dict] = []
    holds: list[dict] = []
    for i in range(n):
        r = row(i, hashlib.sha256(b"%d" % i).hexdigest(), 1, recorded + dt.timedelta(seconds=i))
        rows.append(r)
        if i % 10 == 0:  # a tenth tagged, some as evidence categories
            name = "Use of Force - Outside Jail Facilities" if i % 20 == 0 else "Eviction"
            cats.append(
                {"media_id": r["id"], "category": name, "recorded_start": r["recorded_start"]}
            )
        if i % 100 == 0:  # one in a hundred held
            holds.append(
                {
                    "media_id": r["id"],
                    "kind": "legal",
                    "hold_id": "LH-B",
                    "label": "LH-B",
                    "created_at": NOW,
                    "released_at": None,
                }
            )
        if len(rows) == CHUNK:
            insert_rows(env, rows)
            with env.services.db.transaction() as s:
                if cats:
                    s.execute(sa.insert(MediaCategory), cats)
                if holds:
                    s.execute(sa.insert(MediaHold), holds)
            rows, cats, holds = [], [], []
    if rows:
        insert_rows(env, rows)
    print(f"  setup: {n} rows bulk-inserted ({time.perf_counter() - t0:.1f} s)")

    expiry = get(env.services).expiry
    t0 = time.perf_counter()
    changed = expiry.recompute_all()
    first = time.perf_counter() - t0
    assert changed == n, changed
    report("first computation", n, changed, first)

    expiry.policy = RetentionPolicy.build(
        fixed_days=45, evidence_days=5 * 365, categories=env.services.categories.categories
    )
    t0 = time.perf_counter()
    changed = expiry.recompute_all()
    again = time.perf_counter() - t0
    assert changed == n - len(range(0, n, 100)), changed  # all but the held hundredth
    report("after a policy change", n, changed, again)
    return max(first, again)


def report(what: str, n: int, changed: int, elapsed: float) -> None:
    verdict = "OK" if elapsed < 60 * n / 1_000_000 else "BELOW TARGET"
    print(
        f"  recompute, {what}: {n} items ({changed} changed) in {elapsed:.1f} s = "
        f"{n / elapsed:,.0f} items/s (target: 1,000,000 in < 60 s) {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--purge-items", type=int, default=100_000)
    parser.add_argument("--recompute-items", type=int, default=1_000_000)
    parser.add_argument("--skip-recompute", action="store_true")
    parser.add_argument("--skip-purge", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(
        prefix="vms-bench-", dir=os.environ.get("VMS_BENCH_DIR")
    ) as tmp:
        for backend in backends:
            print(f"[{backend}]")
            if not args.skip_purge:
                env = Env(backend, Path(tmp) / "purge")
                try:
                    bench_purge(env, args.purge_items)
                finally:
                    env.close()
            if not args.skip_recompute:
                env = Env(backend, Path(tmp) / "recompute")
                try:
                    bench_recompute(env, args.recompute_items)
                finally:
                    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
