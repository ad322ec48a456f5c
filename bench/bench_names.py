"""What names people recognise cost a catalog search (issue 15.5).

``Catalog.search`` now looks up the names of the page's items (cameras, devices,
officers, device assignments: four batched queries, ``vms/names.py``). The peer,
measured in the same run on the same catalog and the same random queries, is the same
search with the lookup switched off. Target: the catalog bar still holds (p95 under
20 ms) and the lookup adds at most half of the search's own time (ratio <= 1.5).

    $V/bin/python bench/bench_names.py [--backend sqlite|postgresql|both] [--items N]

The catalog is bench_catalog.py's (same generator, same cache), default 200,000 items.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from collections.abc import Callable
from typing import Any

import bench_catalog
import benchlib
from benchlib import OUT_DIR, median, percentile

import vms.catalog
from vms.catalog_values import MediaQuery
from vms.services import Services

TARGET_P95_MS = 20.0
TARGET_RATIO = 1.5


def _no_names(session: Any, items: Any) -> dict[str, Any]:
    return {}


def measure(services: Services, runs: int) -> dict[str, tuple[float, float, float]]:
    """Per query shape: p95 with names, p95 without, and the ratio of the medians."""
    real = vms.catalog.load_names
    shapes: dict[str, Callable[[random.Random], MediaQuery | None]] = bench_catalog.query_shapes(
        services
    )
    out: dict[str, tuple[float, float, float]] = {}
    for name, make in shapes.items():
        rng = random.Random(11)
        queries = [q for q in (make(rng) for _ in range(runs + 5)) if q is not None]
        if len(queries) <= 5:
            continue
        times: dict[bool, list[float]] = {True: [], False: []}
        for i, query in enumerate(queries):
            # Alternate which goes first so caches favour neither.
            for with_names in (True, False) if i % 2 else (False, True):
                vms.catalog.load_names = real if with_names else _no_names  # type: ignore[assignment]
                try:
                    start = time.perf_counter()
                    services.catalog.search(bench_catalog.ADMIN, query)
                    elapsed = (time.perf_counter() - start) * 1000
                finally:
                    vms.catalog.load_names = real
                if i >= 5:
                    times[with_names].append(elapsed)
        out[name] = (
            percentile(times[True], 95),
            percentile(times[False], 95),
            median(times[True]) / median(times[False]),
        )
    return out


def report(backend: str, results: dict[str, tuple[float, float, float]]) -> bool:
    ok = True
    print(f"{backend}:")
    for name, (p95, peer95, ratio) in results.items():
        met = p95 < TARGET_P95_MS and ratio <= TARGET_RATIO
        ok &= met
        print(
            f"  {name:<27} p95 with names {p95:6.2f} ms, without {peer95:6.2f} ms; "
            f"median ratio {ratio:4.2f}  {benchlib.verdict(met)}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--items", type=int, default=200_000, help="catalog size")
    parser.add_argument("--runs", type=int, default=200, help="searches per query shape")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"names benchmark: {args.items} items, {args.runs} searches per shape, each twice")
    print(f"machine: {benchlib.machine()} (shared: figures can be disturbed by others)")
    all_ok = True
    for backend in backends:
        if backend == "sqlite":
            services = bench_catalog.sqlite_services(args.items, rebuild=False)
            try:
                all_ok &= report("sqlite", measure(services, args.runs))
            finally:
                services.close()
                shutil.rmtree(OUT_DIR / "catalog-sqlite", ignore_errors=True)
        else:
            name = f"vms_bench_{os.getpid()}"
            try:
                services = bench_catalog.postgresql_services(args.items, name)
                try:
                    all_ok &= report("postgresql", measure(services, args.runs))
                finally:
                    services.close()
            finally:
                bench_catalog._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                shutil.rmtree(OUT_DIR / "catalog-postgresql", ignore_errors=True)
    print(
        f"p95 under {TARGET_P95_MS:.0f} ms and ratio <= {TARGET_RATIO}: {benchlib.verdict(all_ok)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
