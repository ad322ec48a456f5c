"""Request size and shape limits (issue 10, item 6): nobody, signed in or not, makes the
server hold a large body or parse a pathological JSON document.

- Every route takes a body of at most ``[web] max_body_bytes`` (1 MiB); the routes that
  receive media (upload chunks, a scanned preservation form) take up to
  ``[web] max_chunk_bytes``. The declared ``Content-Length`` is checked before anything
  reads the body, and a body without one (chunked) stops at the limit while it is read:
  either way the answer is 413 with the reason, and the body is never held in memory.
- JSON bodies nested deeper than ``[web] max_json_depth`` are refused with 400 (a 100,000
  deep document used to exhaust the parser's recursion and answer 500), and so are
  strings holding half a UTF-16 surrogate pair (``"\\ud800"``: a refusal audited with
  it could not be written to the audit chain, and the answer was 500). Socket.IO events
  get the same checks (``web.ptz_socket``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from vms.config import WebConfig
from vms.errors import InvalidArgument

# Endpoints that receive media bytes: their limit is the upload chunk limit.
MEDIA_BODY_ENDPOINTS = frozenset({"uploads_api.put_chunk", "retention_api.attach_form"})
# Room for multipart framing around a chunk of the largest size.
FRAMING_BYTES = 64 * 1024


def json_depth_exceeded(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests lists/objects deeper than ``limit`` (walked
    with an explicit stack: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def lone_surrogate(value: Any) -> str | None:
    """The first string (key or value) of parsed JSON holding half a UTF-16 surrogate
    pair (``"\\ud800"``, which JSON may escape but no UTF-8 text can hold: the audit
    chain could not write it), or None (walked with an explicit stack)."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return node
    return None


def check_json(value: Any, max_depth: int, what: str = "the JSON body") -> None:
    """InvalidArgument when parsed JSON ``value`` nests deeper than ``max_depth`` or
    holds a lone surrogate, naming it."""
    if json_depth_exceeded(value, max_depth):
        raise InvalidArgument(
            f"{what} is nested deeper than {max_depth} levels", max_depth=max_depth
        )
    bad = lone_surrogate(value)
    if bad is not None:
        raise InvalidArgument(  # repr escapes the surrogate
            f"{what} holds a lone UTF-16 surrogate, not valid Unicode text: {bad[:60]!r}"
        )


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing documents nested deeper than ``max_depth``."""

    max_depth = 32

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise InvalidArgument(
                f"the JSON body is nested deeper than {self.max_depth} levels",
                max_depth=self.max_depth,
            ) from None
        check_json(value, self.max_depth)
        return value


def body_limit(config: WebConfig, endpoint: str | None) -> int:
    """The largest request body (bytes) the route ``endpoint`` accepts."""
    if endpoint in MEDIA_BODY_ENDPOINTS:
        return config.max_chunk_bytes + FRAMING_BYTES
    return config.max_body_bytes


def install(app: Flask, config: WebConfig) -> None:
    """Apply the limits to ``app`` (called by the app factory)."""
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    provider = BoundedJSONProvider(app)
    provider.max_depth = config.max_json_depth
    provider.sort_keys = app.json.sort_keys  # type: ignore[attr-defined]
    app.json = provider

    @app.before_request
    def _limit_body() -> None:
        endpoint = request.endpoint
        limit = body_limit(config, endpoint)
        # Also bounds a chunked body while it is read (werkzeug's LimitedStream).
        request.max_content_length = limit
        length = request.content_length
        if length is not None and length > limit:
            raise _too_large(f"{length} bytes", limit)
        if length is None and "wsgi.input_terminated" in request.environ:
            if endpoint in MEDIA_BODY_ENDPOINTS:
                return  # streamed by the route; the stream stops at the limit
            # A chunked body: werkzeug's bounded read stops quietly at the limit (the
            # parser would then see a truncated body), so read one byte past it here;
            # at most limit + 1 bytes are ever held, and the routes get them cached.
            request.max_content_length = limit + 1
            if len(request.get_data(cache=True)) > limit:
                raise _too_large("more than that", limit)


def _too_large(size: str, limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        f"the request body ({size}) exceeds the {limit}-byte limit of "
        f"{request.method} {request.path}"
    )
