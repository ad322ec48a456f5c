"""The event bus (vms/events.py, issue 13 item 3): in-process by default; across
processes through Redis, each process hearing every event exactly once.

Two :class:`RedisEventBus` objects stand for two processes here (each has an origin of
its own); the real multi-process test is tests/web/test_processes.py."""

from __future__ import annotations

import gc
import queue
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from vms.events import EventBus, RedisEventBus, open_bus

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def channel() -> str:
    return f"test:{uuid.uuid4().hex}:events"


@pytest.fixture
def buses(channel: str) -> Iterator[list[RedisEventBus]]:
    made: list[RedisEventBus] = []
    yield made
    for bus in made:
        bus.close()


def heard_by(bus: EventBus) -> queue.Queue[tuple[str, dict[str, Any]]]:
    heard: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    bus.subscribe(lambda topic, payload: heard.put((topic, payload)))
    return heard


def drain(heard: queue.Queue[tuple[str, dict[str, Any]]], wait: float) -> list[Any]:
    out = []
    deadline = time.monotonic() + wait
    while True:
        try:
            out.append(heard.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            return out


def test_without_redis_the_bus_is_in_process() -> None:
    bus = open_bus("")
    assert type(bus) is EventBus and bus.listening()
    heard = heard_by(bus)
    bus.publish("media.new", {"id": "m1"})
    assert drain(heard, 0) == [("media.new", {"id": "m1"})]


def test_every_process_hears_every_event_exactly_once(
    buses: list[RedisEventBus], channel: str
) -> None:
    here, there = RedisEventBus(REDIS, channel=channel), RedisEventBus(REDIS, channel=channel)
    buses += [here, there]
    mine, theirs = heard_by(here), heard_by(there)
    assert here.wait_listening(10) and there.wait_listening(10)
    here.publish("camera.health", {"camera_id": "c1", "health": "offline"})
    event = ("camera.health", {"camera_id": "c1", "health": "offline"})
    assert mine.get_nowait() == event  # at once, in the publishing process
    assert theirs.get(timeout=10) == event
    assert drain(mine, 1.0) == [] and drain(theirs, 0.5) == []  # no echo, no second copy


def test_a_publisher_without_handlers_does_not_listen(
    buses: list[RedisEventBus], channel: str
) -> None:
    publisher = RedisEventBus(REDIS, channel=channel)
    listener = RedisEventBus(REDIS, channel=channel)
    buses += [publisher, listener]
    heard = heard_by(listener)
    assert listener.wait_listening(10)
    publisher.publish("ptz.pose", {"camera_id": "c1", "pan": 0.25})
    assert heard.get(timeout=10) == ("ptz.pose", {"camera_id": "c1", "pan": 0.25})
    assert publisher._listener is None and publisher.listening()


def _connected_to_redis() -> set[int]:
    """The ids of this process's Redis connections that are open."""
    from redis.connection import AbstractConnection

    # type(), not isinstance(): see tests/vms/test_db_dispose.py (torch's reduce_op).
    return {
        id(o)
        for o in gc.get_objects()
        if issubclass(type(o), AbstractConnection) and o.is_connected
    }


def test_a_closed_bus_leaves_no_redis_connection_open(
    buses: list[RedisEventBus], channel: str
) -> None:
    """close() stopped the sender thread but left the connection it had published on
    open in the client's pool, until the garbage collector found it: Services.close()
    left one Redis connection per closed set of services."""
    listener = RedisEventBus(REDIS, channel=channel)
    buses.append(listener)
    heard = heard_by(listener)
    assert listener.wait_listening(10)
    before = _connected_to_redis()
    publisher = RedisEventBus(REDIS, channel=channel)
    publisher.publish("media.new", {"id": "m1"})
    assert heard.get(timeout=10) == ("media.new", {"id": "m1"})  # it had connected
    assert _connected_to_redis() - before
    publisher.close()
    assert _connected_to_redis() - before == set()


def test_a_malformed_message_on_the_channel_is_dropped(
    buses: list[RedisEventBus], channel: str
) -> None:
    import redis

    bus = RedisEventBus(REDIS, channel=channel)
    buses.append(bus)
    heard = heard_by(bus)
    assert bus.wait_listening(10)
    client = redis.Redis.from_url(REDIS)
    try:
        for junk in (b"not json", b'{"topic": "x"}', b'{"origin": "o", "topic": 1, "payload": {}}'):
            client.publish(channel, junk)
        client.publish(channel, b'{"origin": "o", "topic": "ok", "payload": {"n": 1}}')
    finally:
        client.close()
    assert heard.get(timeout=10) == ("ok", {"n": 1})
    assert drain(heard, 0.5) == []


def test_with_redis_away_publishing_still_reaches_this_process(channel: str) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    bus = RedisEventBus(f"redis://127.0.0.1:{port}/0", channel=channel)
    try:
        heard = heard_by(bus)
        bus.publish("media.new", {"id": "m2"})  # logged, not raised
        assert heard.get_nowait() == ("media.new", {"id": "m2"})
        assert not bus.listening()  # /readyz reports it
    finally:
        bus.close()


def test_a_hung_redis_never_blocks_the_publisher(channel: str) -> None:
    """The pose tracker publishes from its loop: a Redis that accepts connections and
    never answers must not slow it (the sender thread waits, not the publisher)."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)  # connections complete in the kernel; nothing ever answers
    bus = RedisEventBus(f"redis://127.0.0.1:{hung.getsockname()[1]}/0", channel=channel)
    try:
        heard = heard_by(bus)
        started = time.monotonic()
        for n in range(200):
            bus.publish("ptz.pose", {"camera_id": "c1", "n": n})
        assert time.monotonic() - started < 1.0
        assert len(drain(heard, 0)) == 200  # this process's handlers had every one
    finally:
        bus.close()
        hung.close()


def test_a_local_handler_hears_only_this_process_events(
    buses: list[RedisEventBus], channel: str
) -> None:
    """``subscribe(local=True)`` (the alarms' writer, issue 12.3): the events this process
    publishes, never those of the others, so each fact becomes one row per deployment."""
    here, there = RedisEventBus(REDIS, channel=channel), RedisEventBus(REDIS, channel=channel)
    buses += [here, there]
    local: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    here.subscribe(lambda topic, payload: local.put((topic, payload)), local=True)
    everything = heard_by(here)  # an ordinary handler in the same process
    assert here.wait_listening(10) and there.wait_listening(10)
    there.publish("camera.health", {"camera_id": "c2"})
    assert everything.get(timeout=10) == ("camera.health", {"camera_id": "c2"})
    here.publish("camera.health", {"camera_id": "c1"})
    assert drain(local, 0.5) == [("camera.health", {"camera_id": "c1"})]


def test_a_redis_that_stays_away_is_not_logged_every_retry(
    channel: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The listener logged a warning at every retry: every 5 s for as long as Redis is
    away (17,000 lines a day a process). The same failure repeated is logged at tries
    1, 2, 4, 8, ... only."""
    import logging

    import vms.events

    monkeypatch.setattr(vms.events, "RECONNECT_MAX_SECONDS", 0.01)  # many retries, quickly
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: every connect is refused
    bus = RedisEventBus(f"redis://127.0.0.1:{closed.getsockname()[1]}/0", channel=channel)
    tries = {"n": 0}
    pubsub = bus._redis.pubsub

    def counted(**kwargs: Any) -> Any:
        tries["n"] += 1
        return pubsub(**kwargs)

    monkeypatch.setattr(bus._redis, "pubsub", counted)
    try:
        with caplog.at_level(logging.INFO, logger="vms.events"):
            heard_by(bus)  # starts the listener
            deadline = time.monotonic() + 30
            while tries["n"] < 65 and time.monotonic() < deadline:
                time.sleep(0.05)
            bus.close()
    finally:
        closed.close()
    assert tries["n"] >= 65
    lines = [r for r in caplog.records if "listening on" in r.getMessage()]
    assert len(lines) <= tries["n"].bit_length() + 1, f"{len(lines)} lines for {tries['n']} tries"


def test_publishing_that_works_again_after_an_outage_says_so(
    channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The sender logged the first failed publish of an outage and then nothing, ever:
    the log read as if Redis were still away. Now the first publish that works again is
    logged too (vms/outage_log.py). The real Redis, reached through a relay opened on the
    port the bus was given once the first publish has failed there."""
    import logging

    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there: every publish is refused
    bus = RedisEventBus(f"redis://127.0.0.1:{port}/0", channel=channel)
    relay: socket.socket | None = None
    try:
        with caplog.at_level(logging.INFO, logger="vms.events"):
            bus.publish("media.new", {"id": "lost"})
            wait_for_line(caplog, "cannot publish")
            relay = relay_to_redis(port)
            deadline = time.monotonic() + 20
            while not [r for r in caplog.records if "again" in r.getMessage()]:
                assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
                bus.publish("media.new", {"id": "sent"})
                time.sleep(0.2)
    finally:
        bus.close()
        if relay is not None:
            relay.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "vms.events"]
    assert len([m for m in lines if "cannot publish" in m]) == 1, lines
    assert lines[-1] == f"event bus {channel}: publishing works again", lines


def wait_for_line(caplog: pytest.LogCaptureFixture, text: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not [r for r in caplog.records if text in r.getMessage()]:
        assert time.monotonic() < deadline, f"no line with {text!r} within {seconds} s"
        time.sleep(0.05)


def relay_to_redis(port: int) -> socket.socket:
    """Listen on 127.0.0.1:``port`` and pass each connection's bytes both ways to the
    local Redis (:data:`REDIS`); closing the returned socket stops accepting."""
    import contextlib
    import threading

    server = socket.create_server(("127.0.0.1", port))

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the other way closed both
            while data := src.recv(65536):
                dst.sendall(data)
        src.close()
        dst.close()

    def accept() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", 6379))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server
