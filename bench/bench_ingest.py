"""Ingest of a 1 GiB file through the single ingest path vs `cp` + `sync` (issue 2).

Target: ingest throughput at least 75 % of the throughput of ``cp`` followed by ``sync``
of the same file on the same disk.

    $V/bin/python bench/bench_ingest.py [--size-mib 1024] [--rounds 3]

The source is a generated Matroska file cached in bench/out/. Rounds alternate cp+sync
and ingest on the same (page-cached) source; every round starts after a ``sync`` and uses
a fresh data directory (the store is content-addressed, a second ingest of the same bytes
would be a duplicate). Medians are reported, with the time of each ingest phase.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import time
from pathlib import Path

import benchlib
from benchlib import GIB, OUT_DIR, median, rate, sync, timed

from vms import ingest as ingest_module
from vms.audit.log import SYSTEM_ROLE, Who
from vms.config import load_config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

TARGET_RATIO = 0.75
PHASES = ("copy+hash", "probe", "fsync+rename", "db commit")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def time_cp_sync(source: Path, work: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (of cp and sync) of ``cp`` then ``sync``."""
    target = work / "cp-target.mkv"
    sync()
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - start
    cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu
    target.unlink()
    return elapsed, cpu


def time_ingest(source: Path, work: Path, round_no: int) -> tuple[float, dict[str, float]]:
    data_dir = work / f"var-{round_no}"
    config = load_config(
        environ={},
        overrides={"VMS_DATA_DIR": str(data_dir), "VMS_INGEST_MIN_FREE_BYTES": "0"},
    )
    services = Services.open(config)
    phases: dict[str, float] = {}
    original_probe = ingest_module.probe
    try:
        services.migrate()
        benchlib.quiet_logs()
        ingestor = services.ingestor
        # Time each step of the real path by wrapping (not replacing) its parts.
        ingestor._copy = timed(ingestor._copy, phases, "copy+hash")  # type: ignore[method-assign]
        ingest_module.probe = timed(original_probe, phases, "probe")
        services.store.place = timed(  # type: ignore[method-assign]
            services.store.place, phases, "fsync+rename"
        )
        ingestor._catalogue = timed(  # type: ignore[method-assign]
            ingestor._catalogue, phases, "db commit"
        )
        request = IngestRequest(
            source=SourceKind.BWC,
            device_id="bench-bwc-1",
            officer_badge="B1",
            original_filename=source.name,
        )
        sync()
        cpu = _cpu(resource.RUSAGE_SELF)
        start = time.perf_counter()
        result = ingestor.ingest(source, request, Who("bench", SYSTEM_ROLE))
        elapsed = time.perf_counter() - start
        phases["cpu"] = _cpu(resource.RUSAGE_SELF) - cpu
        assert not result.duplicate and result.size == source.stat().st_size
    finally:
        ingest_module.probe = original_probe
        services.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return elapsed, phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="source size (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()

    source = benchlib.source_media(args.size_mib * 1024**2)
    size = source.stat().st_size
    work = OUT_DIR / "ingest-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    free = shutil.disk_usage(work).free
    if free < 3 * size + 10 * GIB:
        raise SystemExit(f"only {free / GIB:.1f} GiB free under {work}: need more room")
    source.read_bytes()  # warm the page cache: both contenders then read from memory

    cp_times: list[float] = []
    cp_cpu: list[float] = []
    ingest_times: list[float] = []
    breakdowns: list[dict[str, float]] = []
    print(f"ingest benchmark: {source.name}, {size} bytes, {args.rounds} rounds")
    print(f"machine: {benchlib.machine()} (shared: figures can be disturbed by others)")
    print(f"before: {benchlib.cpu_pressure()}")
    try:
        for i in range(args.rounds):
            elapsed, cpu = time_cp_sync(source, work)
            cp_times.append(elapsed)
            cp_cpu.append(cpu)
            elapsed, phases = time_ingest(source, work, i)
            ingest_times.append(elapsed)
            breakdowns.append(phases)
            detail = ", ".join(f"{k} {phases.get(k, 0.0):.2f}s" for k in PHASES)
            print(
                f"  round {i + 1}: cp+sync {cp_times[-1]:.2f}s ({rate(size, cp_times[-1])}); "
                f"ingest {elapsed:.2f}s ({rate(size, elapsed)}) [{detail}]"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"after: {benchlib.cpu_pressure()}")

    cp_med, ingest_med = median(cp_times), median(ingest_times)
    ratio = cp_med / ingest_med  # throughput ratio = inverse time ratio
    print(f"cp+sync  median {cp_med:.2f}s  {rate(size, cp_med)}")
    print(f"ingest   median {ingest_med:.2f}s  {rate(size, ingest_med)}")
    for key in PHASES:
        values = [b.get(key, 0.0) for b in breakdowns]
        note = " (runs during the copy, in its own thread)" if key == "probe" else ""
        print(f"  {key:<13} median {median(values):.2f}s{note}")
    # The probe of a file at rest overlaps the copy, so it is not part of the sum.
    serial = [k for k in PHASES if k != "probe"]
    other = [
        t - sum(b.get(k, 0.0) for k in serial)
        for t, b in zip(ingest_times, breakdowns, strict=True)
    ]
    print(f"  {'other':<13} median {median(other):.2f}s (validation, locks, duplicate check)")
    print(
        f"CPU seconds (process, median): ingest {median([b['cpu'] for b in breakdowns]):.2f}s, "
        f"cp+sync {median(cp_cpu):.2f}s (kernel writeback threads not counted in either)"
    )
    print(
        f"ingest/cp+sync throughput ratio {ratio:.2f} "
        f"(target >= {TARGET_RATIO:.2f}): {benchlib.verdict(ratio >= TARGET_RATIO)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
