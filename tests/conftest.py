"""Shared fixtures: real databases (SQLite and PostgreSQL), services, the web app.

Layers, as in Flask's own suite: ``database_url -> services -> app -> client``. Each test
gets a database of its own, copied from a template that was migrated (``alembic upgrade
head``) and given one user per role once per session, so tests are isolated without
re-hashing passwords every time. Database tests run on both backends.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import postgres as postgres_peer
from tests.peers import seaweedfs as seaweedfs_peer
from tests.peers.media_node import store_env as store_env  # subprocesses: the same store
from tests.peers.postgres.recycled import Recycler
from vms.audit.log import SYSTEM_ROLE, Who
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.config import Config, load_config
from vms.services import Services

TIER = os.environ.get("VMS_TEST_TIER", "all")
PG_ADMIN_URL = os.environ.get(
    "VMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = os.environ.get("VMS_TEST_BACKENDS", "sqlite,postgresql").split(",")
PASSWORD = "correct horse battery"

# username, role, badge, supervisor
USERS = (
    ("admin", "admin", None, None),
    ("dispatcher", "dispatcher", None, None),
    ("commander", "records_commander", None, None),
    ("investigator", "investigator", None, None),
    ("auditor", "auditor", None, None),
    ("sergeant", "supervisor", "S1", None),
    ("officer", "officer", "B1", "sergeant"),
    ("other_officer", "officer", "B2", None),
    ("approver", "release_approver", None, None),
)


def make_config(data_dir: Path, database_url: str, **overrides: object) -> Config:
    values = {
        "VMS_DATA_DIR": str(data_dir),
        "VMS_DATABASE_URL": database_url,
        "VMS_INGEST_MIN_FREE_BYTES": "0",
        "VMS_INGEST_UPLOAD_MIN_FREE_BYTES": "0",  # tests do not depend on the disk's size
        # The manual clock is not the database server's (a test that checks it sets it).
        "VMS_RETENTION_PURGE_CLOCK_MAX_SKEW_SECONDS": "0",
    }
    values.update({k: str(v) for k, v in overrides.items()})
    return load_config(environ={}, overrides=values)


@dataclass
class Template:
    backend: str
    data_dir: Path  # holds secrets/ (the audit key the template's entries were made with)
    url: str  # sqlite file path or postgres database name
    recycler: Recycler | None = None  # postgres: the databases handed to tests


def _pg_url(name: str) -> str:
    return postgres_peer.url_of(PG_ADMIN_URL, name)


def _pg_admin(sql: str) -> None:
    postgres_peer.admin(PG_ADMIN_URL, sql)


def _populate(config: Config) -> None:
    services = Services.open(config)
    try:
        services.migrate()
        by = Who("test-setup", SYSTEM_ROLE)
        for username, role, badge, supervisor in USERS:
            services.users.add_user(
                username, role, PASSWORD, badge=badge, supervisor=supervisor, by=by
            )
    finally:
        services.close()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Template]]:
    made: dict[str, Template] = {}
    root = tmp_path_factory.mktemp("templates")
    pg_names: list[str] = []
    try:
        for backend in BACKENDS:
            data_dir = root / backend
            if backend == "sqlite":
                url = f"sqlite:///{data_dir / 'vms.db'}"
                _populate(make_config(data_dir, url))
                made[backend] = Template(backend, data_dir, str(data_dir / "vms.db"))
            elif backend == "postgresql":
                name = f"vms_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
                _pg_admin(f'CREATE DATABASE "{name}"')
                pg_names.append(name)
                _populate(make_config(data_dir, _pg_url(name)))
                made[backend] = Template(backend, data_dir, name, Recycler.of(PG_ADMIN_URL, name))
        yield made
    finally:
        for template in made.values():
            if template.recycler is not None:
                template.recycler.close()
        for name in pg_names:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_pg_lock = threading.Lock()


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest, templates: dict[str, Template], tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """A fresh database URL and data dir (with the template's secrets), on each backend."""
    if request.param not in templates:  # a test naming a backend VMS_TEST_BACKENDS leaves out
        pytest.skip(f"the {request.param} backend is not selected (VMS_TEST_BACKENDS={BACKENDS})")
    template = templates[request.param]
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    shutil.copytree(template.data_dir / "secrets", data_dir / "secrets")
    if template.backend == "sqlite":
        shutil.copy(template.url, data_dir / "vms.db")
        yield f"sqlite:///{data_dir / 'vms.db'}", data_dir
        return
    assert template.recycler is not None
    with _pg_lock:  # CREATE DATABASE ... TEMPLATE wants the template to be idle
        name = template.recycler.take()
    try:
        yield _pg_url(name), data_dir
    finally:
        # Emptied and refilled for the next test, or dropped (tests/peers/postgres/recycled.py).
        template.recycler.give_back(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """The media store backend of ``config``: "local" unless a test parametrizes it
    (``@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)``)."""
    return str(getattr(request, "param", "local"))


@pytest.fixture
def config(
    database: tuple[str, Path], store_backend: str, request: pytest.FixtureRequest
) -> Config:
    url, data_dir = database
    if store_backend == "s3":
        return make_config(data_dir, url, **s3_overrides(request.getfixturevalue("seaweedfs")))
    return make_config(data_dir, url)


@pytest.fixture
def services(config: Config, clock: ManualClock) -> Iterator[Services]:
    """Services on the fixed ``clock`` (INV-7): a test that needs time to pass advances
    it, or opens services with :class:`~vms.clock.SystemClock` explicitly."""
    svc = Services.open(config, clock=clock)
    svc.migrate()
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweedfs_peer.SeaweedS3]:
    """A real S3 server for the session: SeaweedFS on ephemeral loopback ports
    (tests/peers/seaweedfs), started within a bounded time and stopped by its PID."""
    server = seaweedfs_peer.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


def s3_overrides(server: seaweedfs_peer.SeaweedS3, *, object_lock: bool = True) -> dict[str, str]:
    """Settings of a media store in a new bucket of ``server`` (Object Lock on or off)."""
    from vms.s3 import S3Bucket, S3Settings

    bucket = f"vms-{uuid.uuid4().hex[:12]}"
    S3Bucket(
        S3Settings(server.endpoint, bucket, "us-east-1", server.access_key, server.secret_key)
    ).ensure_bucket(object_lock=object_lock)
    return {
        "VMS_STORE_BACKEND": "s3",
        "VMS_STORE_ENDPOINT": server.endpoint,
        "VMS_STORE_BUCKET": bucket,
        "VMS_STORE_ACCESS_KEY_ID": server.access_key,
        "VMS_STORE_SECRET_ACCESS_KEY": server.secret_key,
    }


@pytest.fixture
def actors(services: Services) -> dict[str, Actor]:
    out: dict[str, Actor] = {}
    from sqlalchemy import select

    from vms.db.models import User

    with services.db.session() as s:
        for user in s.execute(select(User)).scalars():
            out[user.username] = services.users.actor_for(s, user)
    return out


@pytest.fixture
def tokens(services: Services, actors: dict[str, Actor]) -> dict[str, str]:
    """A bearer token for every test user."""
    return issue_tokens(services, actors)


def issue_tokens(services: Services, actors: dict[str, Actor]) -> dict[str, str]:
    """A bearer token for every test user, issued now (by the services' clock)."""
    return {name: services.users.issue_token(actor).token for name, actor in actors.items()}


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    from web.app import create_app

    flask_app, _socketio = create_app(services, testing=True)
    return flask_app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@dataclass
class LiveServer:
    url: str
    services: Services


@pytest.fixture
def live_server(services: Services) -> Iterator[LiveServer]:
    """The real app on a real threaded HTTP server on 127.0.0.1 with an ephemeral port."""
    from werkzeug.serving import make_server

    from web.app import create_app

    flask_app, _socketio = create_app(services)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", services)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# -- Tiers (CONTRIBUTING.md): the fast tier first, the rest after ---------------------


# How long the interpreter may take to exit once pytest is done (see pytest_unconfigure).
EXIT_GRACE_SECONDS = 60
_session: list[pytest.Session] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _session.append(session)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """An exit that never ends must not hold CI until its own time limit.

    At exit the interpreter joins every non-daemon thread and every thread pool's
    workers (``asyncio.to_thread``'s too): a thread a test leaked, blocked for good,
    keeps the process alive after the last test has passed. Once pytest is done, a
    daemon watchdog gives the exit ``EXIT_GRACE_SECONDS``; if the process is still
    there, it prints every thread's stack (the leak to fix, named loudly) and ends the
    process with pytest's own exit status."""
    if not _session or hasattr(config, "workerinput"):
        # A pytest-xdist worker waits for the controller after its last test, for as
        # long as the other workers run: no leak, and execnet ends it with the
        # controller, whose own watchdog this is.
        return
    session = _session[0]

    def watchdog() -> None:
        time.sleep(EXIT_GRACE_SECONDS)
        status = int(session.exitstatus)
        stream = sys.__stderr__ or sys.stderr
        print(
            f"\n!!! tests/conftest.py: the interpreter has not exited {EXIT_GRACE_SECONDS} s "
            "after the last test; a leaked thread holds it. Every thread's stack follows. "
            f"Ending the process with pytest's exit status {status}.",
            file=stream,
            flush=True,
        )
        for thread in threading.enumerate():
            kind = "daemon" if thread.daemon else "NON-DAEMON"
            print(f"  thread {thread.ident:#x} {thread.name!r} ({kind})", file=stream)
        faulthandler.dump_traceback(file=stream, all_threads=True)
        stream.flush()
        os._exit(status)

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


def is_fast(item: pytest.Item) -> bool:
    """Fast tier: SQLite (or no database), no browser, not marked slow."""
    callspec = getattr(item, "callspec", None)
    # The database fixture's parameter, or a test's own backend parameter.
    on_postgresql = callspec is not None and "postgresql" in callspec.params.values()
    in_browser = bool({"page", "browser", "context"} & set(getattr(item, "fixturenames", ())))
    return not (on_postgresql or in_browser or item.get_closest_marker("slow"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``VMS_TEST_TIER=fast`` keeps the fast tier, ``rest`` everything else, ``all`` both."""
    if TIER == "all":
        return
    if TIER not in {"fast", "rest"}:
        raise pytest.UsageError(f"VMS_TEST_TIER={TIER!r}: expected fast, rest or all")
    keep = [item for item in items if is_fast(item) == (TIER == "fast")]
    dropped = [item for item in items if is_fast(item) != (TIER == "fast")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = longest_files_first(keep, TIER)


DURATIONS = Path(__file__).with_name("durations.json")


def longest_files_first(items: list[pytest.Item], tier: str) -> list[pytest.Item]:
    """``items`` with the test files that took longest in ``tier`` first
    (tests/durations.json, written by scripts/test_durations.py), each file's tests in
    their own order. The workers take a file at a time in this order (scripts/test:
    ``--dist loadfile --no-loadscope-reorder``), so the last files are short ones and
    the workers finish together; xdist's own order, by number of tests, left the leak
    test (one test, nearly 3 minutes) near the end, run alone. A file not in the table
    counts as the median one."""
    try:
        table = json.loads(DURATIONS.read_text())[tier]
    except (OSError, ValueError, KeyError):
        return items
    if not table:
        return items
    median = statistics.median(table.values())
    files = {item.nodeid.split("::", 1)[0] for item in items}
    seconds = {f: float(table.get(f, median)) for f in files}
    return sorted(items, key=lambda item: -seconds[item.nodeid.split("::", 1)[0]])


# A recipient's machine: what court experts and auditors verify our exports with.
@pytest.fixture(scope="session")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with only ``cryptography`` installed (from pip's cache or the
    registry), made once per session: the recipient's machine (the export and the
    audit-export verifier tests)."""
    root = tmp_path_factory.mktemp("recipient") / "venv"
    # Nothing of ours leaks in: no PYTHONPATH (the worktree), no active virtualenv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=env)
    python = root / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "cryptography"],
        check=True,
        capture_output=True,
        env=env,
    )
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    names = {line.split("==")[0].lower() for line in listed.split()}
    assert "vms" not in names and "av" not in names and "cryptography" in names
    return python


def sign_in(client: Any, username: str) -> str:  # a Flask test client
    """Sign in through the login form; returns the session's new CSRF token."""
    assert client.get("/login").status_code == 200
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 302
    with client.session_transaction() as sess:
        return str(sess["csrf"])
