"""Resumable upload of 1 GiB over loopback through the real HTTP API (issue 2).

Target: at least 150 MB/s end to end (create, every chunk, complete).

    $V/bin/python bench/bench_upload.py [--size-mib 1024] [--chunk-mib 64] [--rounds 3]

The real app (``web.app.create_app``) runs on a real threaded werkzeug server on
127.0.0.1 (ephemeral port), on the embedded default (SQLite + local media folder) in
bench/out/. The client streams each chunk from the source file with ``http.client``
(``POST /api/v1/uploads``, ``PUT`` with ``Content-Range``, ``POST .../complete``) as an
officer with an API token. Each round uploads to a fresh data directory; the chunk phase
and the complete phase (verify + ingest) are reported separately, medians over rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import benchlib
from benchlib import GIB, MB, OUT_DIR, median, sync
from werkzeug.serving import make_server

from vms.config import load_config
from vms.services import Services
from web.app import create_app

TARGET_MB_S = 150.0
SEND_BLOCK = 1024**2


class RangeReader:
    """``length`` bytes of ``f`` from ``start``, read in blocks (a streaming body)."""

    def __init__(self, f: BinaryIO, start: int, length: int) -> None:
        f.seek(start)
        self._f = f
        self._left = length

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {payload[:500]!r}")
    result: dict[str, Any] = json.loads(payload)
    return result


def one_round(source: Path, sha256: str, chunk: int, work: Path, round_no: int) -> dict[str, float]:
    data_dir = work / f"var-{round_no}"
    config = load_config(
        environ={},
        overrides={"VMS_DATA_DIR": str(data_dir), "VMS_INGEST_MIN_FREE_BYTES": "0"},
    )
    services = Services.open(config)
    server = None
    thread = None
    try:
        services.migrate()
        benchlib.quiet_logs()
        token = benchlib.officer_token(services, "B900")
        app, _socketio = create_app(services)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="bench-server", daemon=True)
        thread.start()

        size = source.stat().st_size
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, blocksize=SEND_BLOCK)
        sync()
        t0 = time.perf_counter()
        upload = _call(
            conn,
            "POST",
            "/api/v1/uploads",
            token,
            {
                "filename": source.name,
                "size": size,
                "sha256": sha256,
                "source": "bwc",
                "device_id": "bench-bwc-1",
                "title": "upload benchmark",
            },
        )
        t1 = time.perf_counter()
        with source.open("rb") as f:
            for start in range(0, size, chunk):
                length = min(chunk, size - start)
                status = _call(
                    conn,
                    "PUT",
                    f"/api/v1/uploads/{upload['id']}",
                    token,
                    RangeReader(f, start, length),
                    {
                        "Content-Range": f"bytes {start}-{start + length - 1}/{size}",
                        "Content-Length": str(length),
                        "Content-Type": "application/octet-stream",
                    },
                )
                assert status["received"] == start + length, status
        t2 = time.perf_counter()
        done = _call(conn, "POST", f"/api/v1/uploads/{upload['id']}/complete", token)
        t3 = time.perf_counter()
        assert done["media"]["sha256"] == sha256 and not done["duplicate"], done
        conn.close()
        return {"create": t1 - t0, "chunks": t2 - t1, "complete": t3 - t2, "total": t3 - t0}
    finally:
        if server is not None and thread is not None:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
        services.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--chunk-mib", type=int, default=64, help="chunk size (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()

    source = benchlib.source_media(args.size_mib * 1024**2)
    size = source.stat().st_size
    sha256 = benchlib.sha256_of(source)  # what the client computes first; also warms the cache
    work = OUT_DIR / "upload-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    free = shutil.disk_usage(work).free
    if free < 3 * size + 10 * GIB:
        raise SystemExit(f"only {free / GIB:.1f} GiB free under {work}: need more room")

    print(
        f"upload benchmark: {source.name}, {size} bytes, chunks of {args.chunk_mib} MiB, "
        f"{args.rounds} rounds"
    )
    print(f"machine: {benchlib.machine()} (shared: figures can be disturbed by others)")
    rounds: list[dict[str, float]] = []
    try:
        for i in range(args.rounds):
            r = one_round(source, sha256, args.chunk_mib * 1024**2, work, i)
            rounds.append(r)
            print(
                f"  round {i + 1}: chunks {r['chunks']:.2f}s ({size / r['chunks'] / MB:.0f} MB/s), "
                f"complete {r['complete']:.2f}s ({size / r['complete'] / MB:.0f} MB/s), "
                f"end to end {r['total']:.2f}s ({size / r['total'] / MB:.0f} MB/s)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for key, label in (
        ("chunks", "chunk phase"),
        ("complete", "complete"),
        ("total", "end to end"),
    ):
        value = median([r[key] for r in rounds])
        print(f"{label:<12} median {value:6.2f}s  {size / value / MB:7.1f} MB/s")
    total_rate = size / median([r["total"] for r in rounds]) / MB
    print(
        f"end-to-end upload rate {total_rate:.1f} MB/s (target >= {TARGET_MB_S:.0f} MB/s): "
        f"{benchlib.verdict(total_rate >= TARGET_MB_S)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
