"""Ingest of a 1 GiB file into the S3 media store vs a plain boto3 upload (issue 13.6).

Target: ingest throughput at least 80 % of a plain ``upload_file`` (multipart, same client
settings: same boto3 client, part size and concurrency) of the same file, same run.

The store sends bodies that carry its SHA-256 checksum with an unsigned payload (the
signature's payload hash would be a second SHA-256 of the same bytes: vms/s3.py), while
``upload_file`` on the store's client signs its payload as boto3 does by default. So a
second baseline is measured too, ``upload_file`` with payload signing off (no hashing on
the client at all), and its ratio printed beside the target's.

    $V/bin/python bench/bench_s3_ingest.py [--size-mib 1024] [--rounds 3]

A SeaweedFS S3 server (tests/peers/seaweedfs) is started on loopback ports with an
Object Lock bucket, and stopped at the end. Each round runs the two baseline uploads and
the ingest, each of the three going first in turn (``Ingestor.ingest`` through
``Services.open`` with ``[store] backend = "s3"``: link and hash in place, the parts'
SHA-256 in the same pass, probe, verified conditional upload, catalog row); each ingest
uses a fresh data dir and bucket prefix (the store is content-addressed: the same bytes
again would be a duplicate). Medians are reported.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchlib
from benchlib import GIB, OUT_DIR, median, rate, timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from tests.peers import seaweedfs
from vms import ingest as ingest_module
from vms.audit.log import SYSTEM_ROLE, Who
from vms.config import load_config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services
from vms.store import open_bucket

TARGET_RATIO = 0.8
BUCKET = "vms-bench"


def settings(server: seaweedfs.SeaweedS3, data_dir: Path, prefix: str) -> dict[str, str]:
    return {
        "VMS_DATA_DIR": str(data_dir),
        "VMS_INGEST_MIN_FREE_BYTES": "0",
        "VMS_STORE_BACKEND": "s3",
        "VMS_STORE_ENDPOINT": server.endpoint,
        "VMS_STORE_BUCKET": BUCKET,
        "VMS_STORE_PREFIX": prefix,
        "VMS_STORE_ACCESS_KEY_ID": server.access_key,
        "VMS_STORE_SECRET_ACCESS_KEY": server.secret_key,
    }


def time_baseline(
    server: seaweedfs.SeaweedS3, work: Path, source: Path, n: int, *, signed: bool = True
) -> float:
    """``upload_file`` with the client, part size and concurrency the store uses (with
    ``signed=False``: the same client settings with payload signing off)."""
    config = load_config(environ={}, overrides=settings(server, work / "baseline", f"b{n}/"))
    bucket = open_bucket(config)
    assert bucket is not None
    client = bucket.client
    if not signed:
        meta = client.meta
        unsigned = meta.config.merge(
            Config(s3={"addressing_style": "path", "payload_signing_enabled": False})
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=meta.endpoint_url,
            region_name=meta.region_name,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            config=unsigned,
        )
    transfer = TransferConfig(
        multipart_threshold=config.store.part_bytes,
        multipart_chunksize=config.store.part_bytes,
        max_concurrency=config.store.max_connections,
    )
    key = f"b{n}/{'signed' if signed else 'unsigned'}"
    start = time.perf_counter()
    client.upload_file(str(source), BUCKET, key, Config=transfer)
    elapsed = time.perf_counter() - start
    client.delete_object(Bucket=BUCKET, Key=key)
    return elapsed


def time_ingest(
    server: seaweedfs.SeaweedS3, work: Path, source: Path, n: int
) -> tuple[float, dict[str, float]]:
    data_dir = work / f"var-{n}"
    services = Services.open(
        load_config(environ={}, overrides=settings(server, data_dir, f"i{n}/"))
    )
    phases: dict[str, float] = {}
    original_probe = ingest_module.probe
    try:
        services.migrate()
        benchlib.quiet_logs()
        ingestor = services.ingestor
        # Time each step of the real path by wrapping its parts (copy+hash only for streams).
        ingestor._copy = timed(ingestor._copy, phases, "copy+hash")  # type: ignore[method-assign]
        ingestor._hash_file = timed(  # type: ignore[method-assign]
            ingestor._hash_file, phases, "hash in place"
        )
        ingest_module.probe = timed(original_probe, phases, "probe")
        services.store.place = timed(  # type: ignore[method-assign]
            services.store.place, phases, "upload"
        )
        ingestor._catalogue = timed(  # type: ignore[method-assign]
            ingestor._catalogue, phases, "db commit"
        )
        request = IngestRequest(
            source=SourceKind.BWC, device_id="bench-bwc-1", original_filename=source.name
        )
        start = time.perf_counter()
        result = ingestor.ingest(source, request, Who("bench", SYSTEM_ROLE))
        elapsed = time.perf_counter() - start
        assert not result.duplicate and result.size == source.stat().st_size
        assert services.store.stored_size(result.sha256) == result.size
        if services.store.remote is not None:
            services.store.remote.delete(services.store.relative_path(result.sha256))
    finally:
        ingest_module.probe = original_probe
        services.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return elapsed, phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="source size (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()
    source = benchlib.source_media(args.size_mib * 1024**2)
    size = source.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="s3-ingest-", dir=OUT_DIR))
    free = shutil.disk_usage(work).free
    if free < 4 * size + 5 * GIB:
        raise SystemExit(f"only {free / GIB:.1f} GiB free under {work}: need more room")
    source.read_bytes()  # page-cached for both contenders
    server = seaweedfs.start(work / "seaweedfs", volume_size_mb=1024)
    baseline: list[float] = []
    unsigned: list[float] = []
    ingested: list[tuple[float, dict[str, float]]] = []
    ingests: list[float] = []
    breakdowns: list[dict[str, float]] = []
    print(f"S3 ingest benchmark: {source.name}, {size} bytes, {args.rounds} rounds")
    print(f"machine: {benchlib.machine()} (shared: figures can be disturbed by others)")
    print(f"before: {benchlib.cpu_pressure()}")
    try:
        first = load_config(environ={}, overrides=settings(server, work / "setup", ""))
        bucket = open_bucket(first)
        assert bucket is not None
        bucket.ensure_bucket(object_lock=True)
        for i in range(args.rounds):
            # The three take turns going first: a store filling its volumes makes the
            # same upload vary with its place in the round.
            runs: list[Callable[[], None]] = [
                lambda: baseline.append(time_baseline(server, work, source, i)),
                lambda: unsigned.append(time_baseline(server, work, source, i, signed=False)),
                lambda: ingested.append(time_ingest(server, work, source, i)),
            ]
            for run in runs[i % 3 :] + runs[: i % 3]:
                run()
            elapsed, phases = ingested[-1]
            ingests.append(elapsed)
            breakdowns.append(phases)
            detail = ", ".join(f"{k} {v:.2f}s" for k, v in phases.items())
            print(
                f"  round {i + 1}: upload_file {baseline[-1]:.2f}s ({rate(size, baseline[-1])}); "
                f"unsigned {unsigned[-1]:.2f}s; "
                f"ingest {elapsed:.2f}s ({rate(size, elapsed)}) [{detail}]",
                flush=True,
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"after: {benchlib.cpu_pressure()}")
    base_med, ingest_med = median(baseline), median(ingests)
    ratio = base_med / ingest_med
    print(f"upload_file median {base_med:.2f}s  {rate(size, base_med)}")
    unsigned_med = median(unsigned)
    print(f"  (unsigned  median {unsigned_med:.2f}s  {rate(size, unsigned_med)})")
    print(f"ingest      median {ingest_med:.2f}s  {rate(size, ingest_med)}")
    pairs = [b / i for b, i in zip(baseline, ingests, strict=True)]
    print(
        "per-round ratios (same minute, same load): "
        + ", ".join(f"{p:.2f}" for p in pairs)
        + f"; median {median(pairs):.2f}"
    )
    print(
        f"ingest/upload_file-unsigned throughput ratio {unsigned_med / ingest_med:.2f} "
        "(no hashing at all on the client's side; not the target)"
    )
    print(
        f"ingest/upload_file throughput ratio {ratio:.2f} "
        f"(target >= {TARGET_RATIO:.2f}): {benchlib.verdict(ratio >= TARGET_RATIO)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
