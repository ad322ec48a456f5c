"""Database.dispose() leaves no database connection open: one another thread still held
when it ran (a job, a request, a camera's poll finishing as the process stops) is closed
when it is returned, and a poll made after it does not keep its connection. Left to the
garbage collector, such a connection was closed by psycopg's ``__del__`` ("deleted while
still open", a ResourceWarning) at a random later moment, in whatever ran then."""

from __future__ import annotations

import gc
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url, text

from recorder.recording import _ENABLED
from vms.config import Config
from vms.db.engine import Database, poll_keys
from vms.migrations import upgrade
from vms.services import Services


def _open_connections(url: str) -> list[psycopg.Connection]:
    """The psycopg connections of this process to ``url``'s database still open."""
    name = make_url(url).database
    # type(), not isinstance(): isinstance reads ``__class__``, which some objects of other
    # libraries in the process answer with a warning (torch's deprecated reduce_op, once
    # an earlier test of the worker imported torch: a FutureWarning, an error here).
    return [
        o
        for o in gc.get_objects()
        if issubclass(type(o), psycopg.Connection) and not o.closed and o.info.dbname == name
    ]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_returned_after_dispose_is_closed(database: tuple[str, Path]) -> None:
    url, _data_dir = database
    db = Database(url)
    try:
        reader = db.reader()  # held by another thread, say, while the process stops
        assert reader.execute(text("SELECT 1")).scalar_one() == 1
        session = db.session()
        assert session.execute(text("SELECT 2")).scalar_one() == 2
    finally:
        db.dispose()
    assert len(_open_connections(url)) == 2  # still in use: dispose leaves them be
    reader.close()
    session.close()
    assert _open_connections(url) == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_poll_after_dispose_keeps_no_connection(database: tuple[str, Path]) -> None:
    url, _data_dir = database
    db = Database(url)
    try:
        upgrade(db.engine)
        (params,) = poll_keys(["cam"])
        with db.poll() as p:
            assert p.first(_ENABLED, params) is None
    finally:
        db.dispose()
    assert _open_connections(url) == []
    with db.poll() as p:  # a camera's poll thread, late to stop
        assert p.first(_ENABLED, params) is None
    assert _open_connections(url) == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_services_that_fail_to_open_leave_no_connection_open(
    database: tuple[str, Path], tmp_path: Path
) -> None:
    """Services.open failing after it opened the database (here a categories file that
    does not parse; a plugin, the bucket, the bus) closes it: the connection its schema
    check took stayed open in the pool until the garbage collector found it."""
    from tests.conftest import make_config
    from vms.errors import InvalidArgument
    from vms.services import Services

    url, data_dir = database
    bad = tmp_path / "categories.toml"
    bad.write_text("[[category]\n", encoding="utf-8")
    config = make_config(data_dir, url, VMS_TAGGING_CATEGORIES_FILE=str(bad))
    with pytest.raises(InvalidArgument, match=r"categories file .*categories\.toml"):
        Services.open(config)
    assert _open_connections(url) == []


def _failing_plugin(services: Services) -> None:
    raise RuntimeError("a plugin that cannot install")


def _serve_config(database: tuple[str, Path]) -> tuple[str, Config]:
    """(database URL, config) for ``vms serve`` with a Redis bus of its own."""
    import uuid

    from tests.conftest import make_config

    url, data_dir = database
    prefix = f"test-{uuid.uuid4().hex}"
    redis = "redis://127.0.0.1:6379/0"
    return url, make_config(data_dir, url, VMS_REDIS_URL=redis, VMS_REDIS_PREFIX=prefix)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("failure", ["plugin", "role"])
def test_a_serve_that_fails_before_serving_closes_its_services(
    database: tuple[str, Path], failure: str
) -> None:
    """``vms serve`` failing between opening its services and serving (a plugin's
    install, the job runner's set-up, a role it does not know) closed nothing: the
    database's pool kept the connection the schema check took, and the Redis bus its
    listener thread (a plugin had subscribed), until the process ended."""
    import threading

    from vms.errors import InvalidArgument
    from vms.roles import serve

    url, config = _serve_config(database)
    threads_before = set(threading.enumerate())

    def listens(services: Services) -> None:  # a plugin hearing other processes' events
        services.events.subscribe(lambda topic, payload: None)

    if failure == "plugin":
        with pytest.raises(RuntimeError, match="cannot install"):
            serve(config, role="all", demo=False, plugins=[listens, _failing_plugin])
    else:
        with pytest.raises(InvalidArgument, match="nowhere"):
            serve(config, role="nowhere", demo=False, plugins=[listens])
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert left == []
    assert _open_connections(url) == []


class _DemoThatCannotStop:
    """A demo set-up (vms.ports.DemoSetup) whose stop fails: simulated cameras that
    would not stop. Not what is under test: serve's clean-up after it is."""

    def start(self, roles: object) -> None:
        pass

    def stop(self) -> None:
        raise RuntimeError("a demo that cannot stop")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_demo_that_fails_to_stop_still_closes_the_services(
    database: tuple[str, Path],
) -> None:
    """``vms serve --demo`` ending with a demo set-up whose stop raised skipped
    ``services.close()``: the database's pool, the bus's listener thread and the job
    runner's threads stayed open until the process ended."""
    import dataclasses
    import threading

    from vms.ports import DemoSetup
    from vms.roles import serve

    url, config = _serve_config(database)
    config = dataclasses.replace(config, web=dataclasses.replace(config.web, port=0))
    threads_before = set(threading.enumerate())

    def demo(services: Services) -> None:  # a demo set-up that cannot stop
        services.events.subscribe(lambda topic, payload: None)
        services.ports.withdraw(DemoSetup)
        services.ports.provide(DemoSetup, _DemoThatCannotStop())

    with pytest.raises(RuntimeError, match="cannot stop"):
        serve(config, role="jobs", demo=True, plugins=[demo], wait=lambda: None)
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert left == []
    assert _open_connections(url) == []


def _open_http_connections() -> set[int]:
    """The ids of this process's urllib3 connections (the S3 client's) with a socket."""
    from urllib3.connection import HTTPConnection

    return {
        id(o)
        for o in gc.get_objects()
        if issubclass(type(o), HTTPConnection) and getattr(o, "sock", None) is not None
    }


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("store_backend", ["s3"], indirect=True)
def test_closed_services_leave_no_object_store_connection_open(config: Config) -> None:
    """Services.close() released the database and the plugins' resources but not the S3
    bucket's clients: the connections they had pooled stayed open until the garbage
    collector found them, one set per closed Services (a CLI command, a role's end)."""
    before = _open_http_connections()
    services = Services.open(config)
    try:
        services.migrate()
        services.startup_recovery()  # the store's marker: the bucket is used
        assert _open_http_connections() - before  # it had connected
    finally:
        services.close()
    assert _open_http_connections() - before == set()
