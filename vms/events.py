"""The event bus: in-process, or across the processes of a deployment through Redis.

Services publish facts ("media.new", "ptz.pose", "camera.health", ...) without knowing
who listens; the web role subscribes and forwards them to browsers over Socket.IO.
Subscribers must not block.

- :class:`EventBus` (the embedded default, no ``redis_url``): handlers of this process
  only.
- :class:`RedisEventBus` (``redis_url`` set, issue 13 item 3): a publish reaches this
  process's handlers at once and, through the Redis channel ``<redis_prefix>:events``, the
  handlers of every other process of the deployment (media, jobs, every web worker).
  Each process hears every event exactly once: its own directly, the others' from
  Redis (its own echo, recognised by the ``origin`` it stamps, is dropped). So the web
  role's forwarders deliver a bus event to their own process's Socket.IO clients only
  (``web.socket.deliver``), never again through Socket.IO's message queue.

Delivery across processes is at most once (Redis pub/sub): a process that is not
subscribed at that instant (starting, Redis away) misses the event. Events are
notifications; nothing durable depends on them (the database is the record).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from vms.failure_streak import FailureStreak
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]

CHANNEL = "vms:events"
RECONNECT_MAX_SECONDS = 5.0
OUTBOX_SIZE = 10_000  # events waiting for Redis; beyond, dropped for other processes
SEND_RETRY_SECONDS = 0.5  # pause after a failed send (Redis away)
CLOSE_FLUSH_SECONDS = 3.0


class EventBus:
    """Handlers of this process only."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._local: list[Handler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler, *, local: bool = False) -> Callable[[], None]:
        """Register ``handler(topic, payload)``; returns a function that unsubscribes.
        ``local=True``: only the events published by this process, never those of the
        others (a handler that writes what an event means, once per deployment: the
        alarms of :mod:`vms.alarms`)."""
        with self._lock:
            (self._local if local else self._handlers).append(handler)

        def unsubscribe() -> None:
            with self._lock:
                for handlers in (self._handlers, self._local):
                    if handler in handlers:
                        handlers.remove(handler)

        return unsubscribe

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self._deliver(topic, payload, local=True)

    def _deliver(self, topic: str, payload: dict[str, Any], *, local: bool = False) -> None:
        with self._lock:
            handlers = list(self._handlers) + (list(self._local) if local else [])
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:
                # A broken listener must not undo or block the action that was published.
                log.exception("event handler %r failed for %s", handler, topic)

    def listening(self) -> bool:
        """Whether events of other processes reach this one's handlers (always, for a
        bus that has no other processes)."""
        return True

    def close(self) -> None:
        return None


class RedisEventBus(EventBus):
    """Across processes through the Redis channel ``channel`` at ``url``.

    The listener thread starts with the first subscriber (a process with no handlers
    only publishes) and again in a forked child (gunicorn workers), which also gets an
    origin of its own."""

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        import redis  # here: the embedded default never loads it

        super().__init__()
        self.url = url
        self.channel = channel
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._reset()
        ref = weakref.ref(self)

        def after_fork() -> None:
            bus = ref()
            if bus is not None:
                bus._reset()
                if bus._handlers:
                    bus._start_listener()

        os.register_at_fork(after_in_child=after_fork)

    def _reset(self) -> None:
        self.origin = uuid.uuid4().hex
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._listener: threading.Thread | None = None
        self._outbox: queue.Queue[str | None] = queue.Queue(maxsize=OUTBOX_SIZE)
        self._sender: threading.Thread | None = None
        # A send that fails, logged at the first failure of an outage and when it ends.
        self._sending = OutageLog(log)

    def subscribe(self, handler: Handler, *, local: bool = False) -> Callable[[], None]:
        unsubscribe = super().subscribe(handler, local=local)
        if not local:  # a local handler needs nothing from the other processes
            self._start_listener()
        return unsubscribe

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """This process's handlers at once; the other processes' through a sender thread,
        so a slow or absent Redis never blocks the publisher (the pose tracker publishes
        from its loop): when the outbox is full the event is dropped for them, logged."""
        self._deliver(topic, payload, local=True)
        message = json.dumps(
            {"origin": self.origin, "topic": topic, "payload": payload}, default=str
        )
        self._start_sender()
        try:
            self._outbox.put_nowait(message)
        except queue.Full:
            self._warn(f"the outbox is full ({OUTBOX_SIZE}): {topic} not sent to other processes")

    def _warn(self, text: str) -> None:
        """Once per outage, not once per event."""
        self._sending.failed(
            "event bus %s: %s", self.channel, text, level=logging.WARNING, traceback=False
        )

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is not None:
                return
            self._sender = threading.Thread(target=self._send, name="event-bus-sender", daemon=True)
        self._sender.start()

    def _send(self) -> None:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            try:
                self._redis.publish(self.channel, message)
                self._sending.works("event bus %s: publishing works again", self.channel)
            except Exception as exc:  # Redis away: dropped for the others, retried later
                self._warn(f"cannot publish: {exc}")
                self._stop.wait(SEND_RETRY_SECONDS)

    def listening(self) -> bool:
        return self._listener is None or self._subscribed.is_set()

    def wait_listening(self, timeout: float) -> bool:
        return self._listener is None or self._subscribed.wait(timeout)

    def close(self) -> None:
        """Send what is still in the outbox (a CLI's last event), for up to
        :data:`CLOSE_FLUSH_SECONDS`; then stop the threads and close the connections
        (the sender's stayed open in the client's pool until garbage-collected)."""
        if self._sender is not None:
            with contextlib.suppress(queue.Full):
                self._outbox.put(None, timeout=CLOSE_FLUSH_SECONDS)
            self._sender.join(timeout=CLOSE_FLUSH_SECONDS)
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        self._redis.close()

    def _start_listener(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            self._listener = threading.Thread(
                target=self._listen, name="event-bus-listener", daemon=True
            )
        self._listener.start()

    def _listen(self) -> None:
        delay = 0.2
        # Failed tries in a row: logged at tries 1, 2, 4, 8, ... only (a Redis away for
        # a day was a warning every RECONNECT_MAX_SECONDS).
        failures = FailureStreak()
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.2
                if ended := failures.ended():
                    log.warning(
                        "event bus: listening on %s again after %d failed tries",
                        self.channel,
                        ended,
                    )
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._receive(message.get("data"))
            except Exception as exc:
                self._subscribed.clear()
                if failures.failed():
                    log.warning(
                        "event bus: listening on %s failed (%s); retrying (%d tries so far)",
                        self.channel,
                        exc,
                        failures.count,
                    )
                self._stop.wait(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)
            finally:
                with contextlib.suppress(Exception):  # already broken: nothing to release
                    pubsub.close()

    def _receive(self, data: Any) -> None:
        try:
            message = json.loads(data)
            origin, topic, payload = message["origin"], message["topic"], message["payload"]
        except (TypeError, ValueError, KeyError):
            log.warning("event bus: dropped a malformed message on %s", self.channel)
            return
        if origin != self.origin and isinstance(topic, str) and isinstance(payload, dict):
            self._deliver(topic, payload)


def open_bus(redis_url: str, prefix: str = "vms") -> EventBus:
    """The bus for a process: across processes with a Redis URL (channel
    ``<prefix>:events``), else in-process."""
    return RedisEventBus(redis_url, channel=f"{prefix}:events") if redis_url else EventBus()
