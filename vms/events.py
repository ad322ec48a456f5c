"""An in-process publish/subscribe bus.

Services publish facts ("media.new", ...) without knowing who listens; the web role
subscribes and forwards them to browsers over Socket.IO (which fans out between web
processes through its message queue). Subscribers must not block.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Register ``handler(topic, payload)``; returns a function that unsubscribes."""
        with self._lock:
            self._handlers.append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers:
                    self._handlers.remove(handler)

        return unsubscribe

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:
                # A broken listener must not undo or block the action that was published.
                log.exception("event handler %r failed for %s", handler, topic)
