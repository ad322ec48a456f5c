"""Content serving per request: ``GET /api/v1/media/{id}/content`` with HTTP Range through
the real web role, against the same file from a minimal Flask app (the floor).

    $V/bin/python bench/bench_content.py [--backend sqlite|postgresql] [--size-mib 4]
        [--requests 300] [--rounds 3] [--clients 1] [--no-peer-without-recheck]

No target: what a viewing costs per request above serving the bytes. Since the ACC-7
re-check (``Catalog.record_content`` deciding ``ContentAccess.allowed_by`` again, the
last step before the bytes go out) a continuation reads the item again and a first view
holds it FOR SHARE in the transaction that records the viewing.

Set-up: a fresh data directory in bench/out/ (SQLite, the default, or a PostgreSQL
database of its own, dropped at the end), migrated; an officer with an API token; one
stored BWC video item of ``--size-mib`` MiB that is theirs (the rawvideo Matroska of
benchlib, so its bytes are incompressible and the probe accepts it).

Contenders, each a gunicorn with the web role's settings (``web.server.gunicorn_options``:
gthread, ``[web] workers`` x ``threads``, keep-alive) on 127.0.0.1, an ephemeral port:

- **ours**: ``vms serve --role web`` as the project runs it;
- **ours without the re-check** (skipped with ``--no-peer-without-recheck``): the same
  command started by this file with ``Catalog._still_viewable`` replaced by a no-op in
  that process only (product code is not touched), to show what the re-check costs;
- **floor**: a Flask app whose one route is ``send_file(path, conditional=True)`` on the
  same stored file (no auth, no database).

Two request shapes, ``--requests`` each per round, rounds alternating the contenders:
**first view** (``Range: bytes=0-262143``: a player's first request, a new viewing, so
ours records a custody event and an audit entry) and **continuation** (a 256 KiB range
further on, by the same user: ours decides again and records nothing). ``--clients``
keep-alive connections send them (1: one player, request after request). Printed per
contender and shape: requests/s, p50/p95 latency at the client, the server's CPU
(master and workers, /proc) per request; then ours / floor. Before the servers start, an
in-process run (the app's test client) counts the SQL statements per request with
SQLAlchemy events, and those the re-check issues.

Measured 2026-12-07 (2 shared cores, load 8-14: bench/README.md, "Content serving per
request"), after the re-check was made one read of the item row: a continuation is
13 statements on SQLite (2 of them the re-check), 10 on PostgreSQL; ours / floor per
continuation 0.23 / 0.07 of the floor's req/s, p95 3.4x / 10.3x, worker CPU 5.4x / 9.5x
(SQLite / PostgreSQL); the re-check 0.7 / 0.6 ms of 7.8 / 13.8 ms of CPU per
continuation (2.0 / 2.5 ms, about 22 %, before). Then the check's item read without
categories and expiry, and the credential read with its user: a continuation 10 / 7
statements, worker CPU 9.1 -> 6.4 ms (SQLite), 17.7 -> 10.4 ms (PostgreSQL) per request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import benchlib
from benchlib import OUT_DIR, ROOT, median, percentile

CHUNK = 256 * 1024
LISTENING = re.compile(r"http://127\.0\.0\.1:(\d+)/")
SHAPES = ("first view", "continuation")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Item:
    media_id: str
    token: str
    path: Path
    content_type: str
    size: int


def prepare(services: Any, size_mib: int) -> Item:
    """An officer with a token, and one stored BWC video item of theirs."""
    from sqlalchemy import select

    from vms.audit.log import SYSTEM_ROLE, Who
    from vms.db.models import MediaItem, SourceKind
    from vms.ingest import IngestRequest

    by = Who("bench", SYSTEM_ROLE)
    token = benchlib.officer_token(services, "B900")
    source = benchlib.source_media(size_mib * 1024**2, name=f"content-{size_mib}MiB.mkv")
    result = services.ingestor.ingest(
        source,
        IngestRequest(
            source=SourceKind.BWC,
            device_id="bench-bwc-1",
            officer_badge="B900",
            recorded_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            title="content benchmark",
        ),
        by,
    )
    with services.db.session() as s:
        item = s.execute(select(MediaItem).where(MediaItem.id == result.media_id)).scalar_one()
        sha256, content_type, size = item.sha256, item.content_type, item.size_bytes
    path = services.store.servable(sha256, "the benchmark's item is missing from the store")
    assert path is not None, "a local store: the floor serves the same file"
    return Item(result.media_id, token, Path(path), content_type, size)


def request_headers(item: Item, shape: str, i: int, auth: bool) -> tuple[dict[str, str], int]:
    """The headers of request ``i`` of ``shape`` and the body length it must get."""
    if shape == "first view":
        start = 0
    else:  # any 256 KiB chunk after the first, in turn
        chunks = -(-item.size // CHUNK)
        start = CHUNK * (1 + i % max(1, chunks - 1))
    stop = min(start + CHUNK, item.size) - 1
    headers = {"Range": f"bytes={start}-{stop}"}
    if auth:
        headers["Authorization"] = f"Bearer {item.token}"
    return headers, stop - start + 1


# --- statements per request (in-process) ----------------------------------------------


def count_statements(
    services: Any, item: Item, requests: int, show: bool = False
) -> dict[str, tuple[float, float]]:
    """(statements, of them in the re-check) per request of each shape, through the app's
    test client, counted with SQLAlchemy's ``before_cursor_execute``. The re-check's are
    those issued while ``Catalog._still_viewable`` runs (wrapped in this process only)."""
    from sqlalchemy import event

    from vms.catalog import Catalog
    from web.app import create_app

    app, _socketio = create_app(services)
    client = app.test_client()
    seen: list[tuple[bool, str]] = []
    inside = [False]
    original = Catalog._still_viewable

    def recheck(self: Catalog, *args: Any, **kwargs: Any) -> None:
        inside[0] = True
        try:
            original(self, *args, **kwargs)
        finally:
            inside[0] = False

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((inside[0], statement))

    out: dict[str, tuple[float, float]] = {}
    Catalog._still_viewable = recheck  # type: ignore[method-assign]
    event.listen(services.db.engine, "before_cursor_execute", executed)
    try:
        url = f"/api/v1/media/{item.media_id}/content"
        for shape in SHAPES:
            seen.clear()
            for i in range(requests):
                headers, length = request_headers(item, shape, i, auth=True)
                response = client.get(url, headers=headers)
                assert response.status_code == 206, (response.status_code, response.data[:300])
                assert len(response.get_data()) == length
                response.close()
                if show and i == requests - 1:
                    print(f"statements of the last {shape} request:")
                    for recheck, sql in seen[-out_count(seen, requests) :]:
                        print(f"  {'R' if recheck else ' '} {' '.join(sql.split())[:150]}")
            out[shape] = (len(seen) / requests, sum(r for r, _ in seen) / requests)
    finally:
        event.remove(services.db.engine, "before_cursor_execute", executed)
        Catalog._still_viewable = original  # type: ignore[method-assign]
    return out


def out_count(seen: list[tuple[bool, str]], requests: int) -> int:
    """How many of ``seen`` one request issued (they all issue as many)."""
    return len(seen) // requests


# --- servers ----------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and workers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` (/proc/PID/stat, all threads)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class Server:
    """A server process started on an ephemeral port; stopped by its pid."""

    name: str
    proc: subprocess.Popen[str]
    port: int = 0
    path: str = ""
    auth: bool = True

    def cpu(self) -> float:
        """The CPU seconds of gunicorn's master and its workers (forked after it listens)."""
        return cpu_seconds(process_tree(self.proc.pid))


@contextmanager
def serving(name: str, argv: list[str], env: dict[str, str], log: Path) -> Iterator[Server]:
    """``argv``: a server printing ``http://127.0.0.1:PORT/`` once it listens."""
    from tests.peers import processes

    with processes.started(argv, env=env, ready=LISTENING, log=log, cwd=ROOT) as started:
        yield Server(name, started.proc, port=int(started.ready.group(1)))


def server_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        PYTHONPATH=str(ROOT),
        VMS_DATA_DIR=str(data_dir),
        VMS_DATABASE_URL=database_url,
        VMS_LOG_LEVEL="WARNING",
    )
    return env


def serve_floor(path: str, content_type: str) -> None:
    """The floor: one Flask route, ``send_file(conditional=True)``, under gunicorn with the
    web role's options (from the same configuration)."""
    import gunicorn.http.wsgi
    from flask import Flask, Response, send_file
    from gunicorn.app.base import BaseApplication

    from vms.config import load_config
    from web.server import gunicorn_options

    options = gunicorn_options(SimpleNamespace(config=load_config()))  # type: ignore[arg-type]
    options["bind"] = ["127.0.0.1:0"]
    options["proc_name"] = "content-floor"
    gunicorn.http.wsgi.SERVER = "floor"

    def when_ready(server: Any) -> None:
        port = server.LISTENERS[0].sock.getsockname()[1]
        print(f"floor listening on http://127.0.0.1:{port}/", flush=True)

    class Floor(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {**options, "when_ready": when_ready}.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            app = Flask("floor")

            @app.get("/file")
            def file() -> Response:
                return send_file(path, mimetype=content_type, conditional=True)

            return app

    Floor().run()


def serve_without_recheck(argv: list[str]) -> int:
    """``vms ARGV`` with the re-check of ``record_content`` a no-op in this process (and
    the workers it forks): a contender, never a product setting."""
    from vms.catalog import Catalog
    from vms.cli import main

    Catalog._still_viewable = lambda *_args, **_kwargs: None  # type: ignore[method-assign]
    return main(argv)


# --- the load -----------------------------------------------------------------------


@dataclass
class Phase:
    requests: int
    wall: float
    cpu: float
    latencies: list[float]


def run_phase(server: Server, item: Item, shape: str, requests: int, clients: int) -> Phase:
    """``requests`` of ``shape`` over ``clients`` keep-alive connections."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                headers, length = request_headers(item, shape, i, server.auth)
                t0 = time.perf_counter()
                conn.request("GET", server.path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - t0
                if response.status != 206 or len(body) != length:
                    errors.append(f"{server.name}: {response.status} {body[:300]!r}")
                    return
                with lock:
                    latencies.append(elapsed)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(clients)]
    cpu0, t0 = server.cpu(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, server.cpu() - cpu0
    if errors:
        raise SystemExit(errors[0])
    return Phase(requests, wall, cpu, latencies)


@dataclass
class Totals:
    phases: list[Phase] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.phases for x in p.latencies]

    def rate(self) -> float:
        return sum(p.requests for p in self.phases) / sum(p.wall for p in self.phases)

    def p(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000

    def cpu_ms(self) -> float:
        return 1000 * sum(p.cpu for p in self.phases) / sum(p.requests for p in self.phases)


def figures_line(name: str, t: Totals) -> str:
    return (
        f"  {name:<22} {t.rate():8.1f} req/s  p50 {t.p(50):6.2f} ms  p95 {t.p(95):6.2f} ms  "
        f"server CPU {t.cpu_ms():6.2f} ms/request"
    )


def times(ours: float, floor: float) -> str:
    """``ours`` over ``floor`` (a CPU figure below the clock tick can be 0: no ratio)."""
    return f"x{ours / floor:5.2f}" if floor > 0 else "x  n/a"


def ratio_line(name: str, ours: Totals, floor: Totals) -> str:
    return (
        f"  {name:<36} req/s {times(ours.rate(), floor.rate())}  "
        f"p50 {times(ours.p(50), floor.p(50))}  p95 {times(ours.p(95), floor.p(95))}  "
        f"CPU/request {times(ours.cpu_ms(), floor.cpu_ms())}"
    )


@contextmanager
def database(backend: str) -> Iterator[dict[str, str]]:
    """The configuration's database: a PostgreSQL one of its own, or the default."""
    if backend == "postgresql":
        with benchlib.postgres_database(f"vms_bench_content_{os.getpid()}") as url:
            yield {"VMS_DATABASE_URL": url}
    else:
        yield {}  # SQLite in the data directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--size-mib", type=int, default=4, help="the item's size (default 4)")
    parser.add_argument("--requests", type=int, default=300, help="per shape per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1, help="concurrent connections")
    parser.add_argument("--warmup", type=int, default=20, help="requests before each phase")
    parser.add_argument("--count-requests", type=int, default=20, help="in-process counting")
    parser.add_argument("--no-peer-without-recheck", action="store_true")
    parser.add_argument("--show-statements", action="store_true", help="of one request each")
    parser.add_argument("--work", type=Path, default=OUT_DIR / "content-work")
    args = parser.parse_args(argv)
    benchlib.quiet_logs()

    from vms.config import load_config
    from vms.services import Services

    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(
        f"content benchmark: {args.backend}, a {args.size_mib} MiB item, {CHUNK // 1024} KiB "
        f"ranges, {args.requests} requests per shape x {args.rounds} rounds, "
        f"{args.clients} client(s)"
    )
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {benchlib.machine()}; {benchlib.cpu_pressure()}; {at}")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        data_dir = work / "main"
        overrides = {"VMS_DATA_DIR": str(data_dir), **stack.enter_context(database(args.backend))}
        config = load_config(environ={}, overrides=overrides)
        url = config.effective_database_url
        services = Services.open(config)
        try:
            services.migrate()
            benchlib.quiet_logs()
            item = prepare(services, args.size_mib)
            counts = count_statements(
                services, item, args.count_requests, show=args.show_statements
            )
        finally:
            services.close()
        print(f"item {item.media_id}: {item.size} bytes, {item.content_type}")
        print("SQL statements per request (in-process, SQLAlchemy before_cursor_execute):")
        for shape, (total, recheck) in counts.items():
            print(f"  {shape:<24} {total:5.1f}, of them the re-check {recheck:4.1f}")

        env = server_env(data_dir, url)
        python = sys.executable
        serve = ["serve", "--role", "web", "--host", "127.0.0.1", "--port", "0"]
        plan: list[tuple[str, list[str]]] = [
            ("floor", [python, __file__, "--serve-floor", str(item.path), item.content_type]),
            ("ours", [python, "-m", "vms.cli", *serve]),
        ]
        if not args.no_peer_without_recheck:
            plan.append(
                ("ours without re-check", [python, __file__, "--serve-without-recheck", *serve])
            )
        servers = []
        for name, command in plan:
            server = stack.enter_context(serving(name, command, env, work / f"{name}.log"))
            if name == "floor":
                server.path, server.auth = "/file", False
            else:
                server.path = f"/api/v1/media/{item.media_id}/content"
            print(f"{name}: port {server.port}, pid {server.proc.pid}")
            servers.append(server)
        totals = {(s.name, shape): Totals() for s in servers for shape in SHAPES}
        for round_no in range(args.rounds):
            for server in servers if round_no % 2 == 0 else servers[::-1]:
                for shape in SHAPES:
                    run_phase(server, item, shape, args.warmup, args.clients)
                    phase = run_phase(server, item, shape, args.requests, args.clients)
                    totals[(server.name, shape)].phases.append(phase)
            print(f"  round {round_no + 1} done; {benchlib.cpu_pressure()}")

    for shape in SHAPES:
        print(f"{shape}:")
        for server in servers:
            print(figures_line(server.name, totals[(server.name, shape)]))
    print("ours / floor (CPU and latency: times the floor's; req/s: the share of the floor's):")
    for shape in SHAPES:
        floor = totals[("floor", shape)]
        for server in servers[1:]:
            print(ratio_line(f"{server.name}, {shape}", totals[(server.name, shape)], floor))
    print("per round, req/s (ours / floor):")
    for shape in SHAPES:
        rates = [
            ours.requests / ours.wall / (floor.requests / floor.wall)
            for ours, floor in zip(
                totals[("ours", shape)].phases, totals[("floor", shape)].phases, strict=True
            )
        ]
        print(f"  {shape:<24} {', '.join(f'{r:.2f}' for r in rates)} (median {median(rates):.2f})")
    print(f"after: {benchlib.cpu_pressure()}")
    return 0


def entry(argv: list[str]) -> int:
    """The benchmark, or one of its servers (started by the benchmark itself)."""
    if argv[:1] == ["--serve-floor"]:
        serve_floor(argv[1], argv[2])
        return 0
    if argv[:1] == ["--serve-without-recheck"]:
        return serve_without_recheck(argv[1:])
    return main(argv)


if __name__ == "__main__":
    raise SystemExit(entry(sys.argv[1:]))
