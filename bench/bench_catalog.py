"""Catalog search over 1,000,000 media items on SQLite and PostgreSQL (issue 2).

Target: ``Catalog.search`` p95 under 20 ms for filtered (device + time range) and
newest-page queries; the other shapes (officer + time range, category, second page via
the cursor) are measured against the same bar.

    $V/bin/python bench/bench_catalog.py [--backend sqlite|postgresql|both] [--items N]

The schema is built by the migrations (``services.migrate()``); the rows are bulk-inserted
with SQLAlchemy core (SQLite) or COPY (PostgreSQL), then ANALYZE. The distribution: 200
devices (120 fixed cameras, 60 body-worn, 20 dash), 300 officers, one year of recordings;
fixed segments carry no officer, BWC/dash items one; a fifth of BWC/dash items carry one
or two categories, one in twenty a case number. The SQLite catalog is cached in
bench/out/ (``--rebuild`` to redo it); PostgreSQL gets a database of its own
(``vms_bench_<pid>``) that is dropped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import benchlib
import numpy as np
import sqlalchemy as sa
from benchlib import OUT_DIR, median, percentile

from vms.auth.permissions import Actor, Role
from vms.catalog_values import MediaQuery, encode_cursor
from vms.categories import DENVER_CATEGORIES
from vms.config import load_config
from vms.db.models import Device, MediaCategory, MediaItem, Officer
from vms.services import Services

PG_ADMIN_URL = benchlib.PG_ADMIN_URL
TARGET_P95_MS = 20.0
DATA_VERSION = 3  # bump when the generated data changes (invalidates the SQLite cache)
YEAR_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
YEAR_SECONDS = 365 * 86400
BATCH = 20_000
ADMIN = Actor(user_id=1, username="admin", role=Role.ADMIN)

DEVICES = (
    [(f"cam-{i:03d}", "fixed") for i in range(120)]
    + [(f"bwc-{i:03d}", "bwc") for i in range(60)]
    + [(f"dash-{i:03d}", "dash") for i in range(20)]
)
OFFICERS = [f"B{1000 + i}" for i in range(300)]
# Category use is skewed: a few categories are common, most are rare.
CATEGORY_NAMES = [c.name for c in DENVER_CATEGORIES]
CATEGORY_WEIGHTS = np.array([1.0 / (i + 1) for i in range(len(CATEGORY_NAMES))])
CATEGORY_WEIGHTS /= CATEGORY_WEIGHTS.sum()


# -- data ------------------------------------------------------------------------------


def generate(
    count: int, seed: int = 7
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Batches of (media rows, category rows). 70 % fixed segments, 30 % BWC/dash."""
    rng = np.random.default_rng(seed)
    ingested_at = YEAR_START + dt.timedelta(days=366)
    made = 0
    serial = 0
    while made < count:
        n = min(BATCH, count - made)
        fixed = rng.random(n) < 0.7
        device_ix = np.where(fixed, rng.integers(0, 120, n), rng.integers(120, 200, n))
        start_s = rng.integers(0, YEAR_SECONDS, n)
        duration = np.where(fixed, 3600, rng.integers(30, 1800, n))
        officer_ix = rng.integers(0, len(OFFICERS), n)
        tagged = (~fixed) & (rng.random(n) < 0.2)
        two_tags = rng.random(n) < 0.25
        cat_a = rng.choice(len(CATEGORY_NAMES), n, p=CATEGORY_WEIGHTS)
        cat_b = rng.choice(len(CATEGORY_NAMES), n, p=CATEGORY_WEIGHTS)
        cased = rng.random(n) < 0.05
        case_no = rng.integers(1, 20_000, n)
        hashes = rng.bytes(32 * n)
        rows: list[dict[str, Any]] = []
        cats: list[dict[str, Any]] = []
        for i in range(n):
            serial += 1
            device, kind = DEVICES[device_ix[i]]
            start = YEAR_START + dt.timedelta(seconds=int(start_s[i]))
            # UUIDv7 layout like ids.new_id(): milliseconds (of the recording here), then
            # a serial instead of random bits
            ms = int(start.timestamp() * 1000)
            media_id = str(uuid.UUID(int=ms << 80 | 0x7 << 76 | 0b10 << 62 | serial))
            rows.append(
                {
                    "id": media_id,
                    "source": kind,
                    "media_type": "video",
                    "content_type": "video/mp4",
                    "device_id": device,
                    "officer_badge": None if fixed[i] else OFFICERS[officer_ix[i]],
                    "recorded_start": start,
                    "recorded_end": start + dt.timedelta(seconds=int(duration[i])),
                    "duration_seconds": float(duration[i]),
                    "codec": "h264",
                    "width": 1920,
                    "height": 1080,
                    "size_bytes": int(duration[i]) * 1_000_000,
                    "sha256": hashes[32 * i : 32 * i + 32].hex(),
                    "original_filename": f"{device}-{start:%Y%m%dT%H%M%S}.mp4",
                    "title": None,
                    "case_number": f"2025-{case_no[i]:05d}" if cased[i] else None,
                    "incident_number": None,
                    "evidence": False,
                    "restricted": False,
                    "ingested_at": ingested_at,
                    "ingested_by": "bench",
                    "recorded_start_origin": "container",
                }
            )
            if tagged[i]:
                start = rows[-1]["recorded_start"]
                cats.append(
                    {
                        "media_id": media_id,
                        "category": CATEGORY_NAMES[cat_a[i]],
                        "recorded_start": start,
                    }
                )
                if two_tags[i] and cat_b[i] != cat_a[i]:
                    cats.append(
                        {
                            "media_id": media_id,
                            "category": CATEGORY_NAMES[cat_b[i]],
                            "recorded_start": start,
                        }
                    )
        made += n
        yield rows, cats


def _entities() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now = YEAR_START
    devices = [{"id": d, "kind": k, "name": d, "created_at": now} for d, k in DEVICES]
    officers = [{"badge": b, "name": None, "created_at": now} for b in OFFICERS]
    return devices, officers


def load_sqlite(services: Services, count: int) -> None:
    devices, officers = _entities()
    with services.db.engine.begin() as conn:
        conn.execute(sa.insert(Device.__table__), devices)
        conn.execute(sa.insert(Officer.__table__), officers)
    for rows, cats in generate(count):
        with services.db.engine.begin() as conn:
            conn.execute(sa.insert(MediaItem.__table__), rows)
            if cats:
                conn.execute(sa.insert(MediaCategory.__table__), cats)


def load_postgresql(services: Services, count: int) -> None:
    devices, officers = _entities()
    with services.db.engine.begin() as conn:
        conn.execute(sa.insert(Device.__table__), devices)
        conn.execute(sa.insert(Officer.__table__), officers)
    media_cols: list[str] | None = None
    raw = services.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for rows, cats in generate(count):
            media_cols = media_cols or list(rows[0])
            with cursor.copy(  # type: ignore[attr-defined]
                f"COPY media_items ({', '.join(media_cols)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in media_cols))
            if cats:
                with cursor.copy(  # type: ignore[attr-defined]
                    "COPY media_categories (media_id, category, recorded_start) FROM STDIN"
                ) as copy:
                    for cat in cats:
                        copy.write_row((cat["media_id"], cat["category"], cat["recorded_start"]))
        raw.commit()
    finally:
        raw.close()


# -- databases -------------------------------------------------------------------------


_pg_admin = benchlib.pg_admin


def _open(data_dir: Path, url: str) -> Services:
    benchlib.quiet_logs()
    config = load_config(
        environ={},
        overrides={
            "VMS_DATA_DIR": str(data_dir),
            "VMS_DATABASE_URL": url,
            "VMS_INGEST_MIN_FREE_BYTES": "0",
        },
    )
    return Services.open(config)


def _analyze(services: Services) -> None:
    with services.db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")


def sqlite_services(count: int, rebuild: bool) -> Services:
    work = OUT_DIR / "catalog-sqlite"
    cached = OUT_DIR / f"catalog-v{DATA_VERSION}-{count}.db"
    if rebuild or not cached.is_file():
        shutil.rmtree(work, ignore_errors=True)
        cached.unlink(missing_ok=True)
        work.mkdir(parents=True)
        services = _open(work, f"sqlite:///{work / 'vms.db'}")
        try:
            services.migrate()
            t = time.perf_counter()
            load_sqlite(services, count)
            print(f"  sqlite: loaded {count} items in {time.perf_counter() - t:.0f}s")
        finally:
            services.close()
        with sa.create_engine(f"sqlite:///{work / 'vms.db'}").connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.move(work / "vms.db", cached)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(cached, work / "vms.db")
    services = _open(work, f"sqlite:///{work / 'vms.db'}")
    services.migrate()  # a cache made before a newer migration is brought up to date
    benchlib.quiet_logs()
    _analyze(services)
    return services


def postgresql_services(count: int, name: str) -> Services:
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    work = OUT_DIR / "catalog-postgresql"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    services = _open(work, url)
    services.migrate()
    benchlib.quiet_logs()
    t = time.perf_counter()
    load_postgresql(services, count)
    print(f"  postgresql: loaded {count} items in {time.perf_counter() - t:.0f}s")
    _analyze(services)
    return services


# -- queries ---------------------------------------------------------------------------


def _window(rng: random.Random, days: float) -> tuple[dt.datetime, dt.datetime]:
    start = YEAR_START + dt.timedelta(seconds=rng.randrange(YEAR_SECONDS - int(days * 86400)))
    return start, start + dt.timedelta(days=days)


def query_shapes(services: Services) -> dict[str, Callable[[random.Random], MediaQuery | None]]:
    def device_time(rng: random.Random) -> MediaQuery:
        start, end = _window(rng, 7)
        return MediaQuery(device_id=rng.choice(DEVICES)[0], start=start, end=end)

    def newest(rng: random.Random) -> MediaQuery:
        return MediaQuery()

    def officer_time(rng: random.Random) -> MediaQuery:
        start, end = _window(rng, 30)
        return MediaQuery(officer_badge=rng.choice(OFFICERS), start=start, end=end)

    def category(rng: random.Random) -> MediaQuery:
        return MediaQuery(category=rng.choice(CATEGORY_NAMES))

    def _second_page(first: MediaQuery) -> MediaQuery | None:
        page = services.catalog.search(ADMIN, first)
        if page.next_cursor is None:
            return None  # one page only (small catalogs): not a second-page search
        return dataclasses.replace(first, cursor=page.next_cursor)

    def newest_page2(rng: random.Random) -> MediaQuery | None:
        return _second_page(MediaQuery())

    def device_page2(rng: random.Random) -> MediaQuery | None:
        # a month of a fixed camera: several pages
        start, end = _window(rng, 30)
        return _second_page(
            MediaQuery(device_id=rng.choice(DEVICES[:120])[0], start=start, end=end)
        )

    def deep_page(rng: random.Random) -> MediaQuery:
        # a cursor deep into the catalog, as after paging back months (keyset pagination
        # must cost the same on page 2 and on page 2,000)
        _, end = _window(rng, 0)
        item = services.catalog.search(ADMIN, MediaQuery(end=end, limit=1)).items[0]
        return MediaQuery(cursor=encode_cursor(item))

    def category_page2(rng: random.Random) -> MediaQuery | None:
        return _second_page(MediaQuery(category=rng.choice(CATEGORY_NAMES[:5])))

    return {
        "device + 7-day range": device_time,
        "newest page (no filter)": newest,
        "officer + 30-day range": officer_time,
        "category": category,
        "newest, page 2 (cursor)": newest_page2,
        "device + 30 days, page 2": device_page2,
        "newest, deep page (cursor)": deep_page,
        "category, page 2 (cursor)": category_page2,
    }


def measure(services: Services, runs: int) -> dict[str, tuple[float, float, float]]:
    """p50, p95 (ms) and mean page size per query shape."""
    results: dict[str, tuple[float, float, float]] = {}
    for name, make in query_shapes(services).items():
        rng = random.Random(11)
        times: list[float] = []
        sizes: list[int] = []
        for i in range(runs + 5):
            query = make(rng)
            if query is None:
                continue
            start = time.perf_counter()
            page = services.catalog.search(ADMIN, query)
            elapsed = time.perf_counter() - start
            if i >= 5:  # the first few warm the caches and the statement cache
                times.append(elapsed * 1000)
                sizes.append(len(page.items))
        if not times:
            print(f"  {name}: no second page in a catalog this small, not measured")
            continue
        results[name] = (median(times), percentile(times, 95), sum(sizes) / len(sizes))
    return results


def report(backend: str, results: dict[str, tuple[float, float, float]]) -> bool:
    ok = True
    print(f"{backend}:")
    for name, (p50, p95, size) in results.items():
        met = p95 < TARGET_P95_MS
        ok &= met
        print(
            f"  {name:<27} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  "
            f"(~{size:.0f} items/page)  {benchlib.verdict(met)}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--items", type=int, default=1_000_000, help="catalog size")
    parser.add_argument("--runs", type=int, default=200, help="searches per query shape")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite db")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()

    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"catalog benchmark: {args.items} items, {args.runs} searches per shape")
    print(f"machine: {benchlib.machine()} (shared: figures can be disturbed by others)")
    all_ok = True
    for backend in backends:
        if backend == "sqlite":
            services = sqlite_services(args.items, args.rebuild)
            try:
                all_ok &= report("sqlite", measure(services, args.runs))
            finally:
                services.close()
                shutil.rmtree(OUT_DIR / "catalog-sqlite", ignore_errors=True)
        else:
            name = f"vms_bench_{os.getpid()}"
            try:
                services = postgresql_services(args.items, name)
                try:
                    all_ok &= report("postgresql", measure(services, args.runs))
                finally:
                    services.close()
            finally:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                shutil.rmtree(OUT_DIR / "catalog-postgresql", ignore_errors=True)
    print(f"every p95 under {TARGET_P95_MS:.0f} ms: {benchlib.verdict(all_ok)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
