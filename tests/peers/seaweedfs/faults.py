"""An S3 endpoint that fails on demand: a loopback HTTP proxy in front of the real
SeaweedFS of :mod:`tests.peers.seaweedfs`, passing every request through unchanged
(the Host header too, so signatures still match) until told to refuse some requests
on originals (``/objects/`` keys) the way an S3 store does:

- :attr:`FaultyS3.down`: every request gets ``503 ServiceUnavailable`` (the store is
  down behind its load balancer);
- :attr:`FaultyS3.fail_object_gets`: the GETs of object bodies get ``503 SlowDown`` (a
  loaded store); HEAD and listings still pass, so a reader finds the object and then
  cannot read it;
- :attr:`FaultyS3.refuse_object_writes`: PUTs and multipart POSTs get ``403
  AccessDenied`` (the store refuses this deployment's key: rotated, or a bucket policy
  changed);
- :attr:`FaultyS3.refuse_deletes_of`: DELETEs of these SHA-256 names get ``403
  AccessDenied`` (Object Lock refusing a held version);
  :attr:`FaultyS3.slow_deletes_of`: DELETEs of these are passed on only after
  :attr:`FaultyS3.slow_seconds` (a slow store);
- :attr:`FaultyS3.hang_object_writes`: PUTs and multipart POSTs are held unanswered
  until the switch is turned off (a hung store: the connection open, no reply).
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def s3_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


SLOW_DOWN = s3_error("SlowDown", "Please reduce your request rate.")
UNAVAILABLE = s3_error("ServiceUnavailable", "Service is unable to handle request.")
ACCESS_DENIED = s3_error("AccessDenied", "Access Denied.")
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


class FaultyS3:
    """The proxy; ``endpoint`` is its URL, :attr:`fail_object_gets` and
    :attr:`refuse_object_writes` the switches, and :attr:`refused` counts the requests
    it refused."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 80
        self.down = False
        self.fail_object_gets = False
        self.refuse_object_writes = False
        self.refuse_deletes_of: set[str] = set()
        self.slow_deletes_of: set[str] = set()
        self.slow_seconds = 3.0
        self.hang_object_writes = False
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path)
                fault: tuple[int, bytes] | None = None
                if proxy.down:
                    fault = (503, UNAVAILABLE)
                elif "/objects/" in path.path:
                    while proxy.hang_object_writes and self.command in ("PUT", "POST"):
                        time.sleep(0.05)
                    if proxy.fail_object_gets and self.command == "GET" and not path.query:
                        fault = (503, SLOW_DOWN)
                    elif proxy.refuse_object_writes and self.command in ("PUT", "POST"):
                        fault = (403, ACCESS_DENIED)
                    elif self.command == "DELETE":
                        name = path.path.rsplit("/", 1)[-1]
                        if name in proxy.refuse_deletes_of:
                            fault = (403, ACCESS_DENIED)
                        elif name in proxy.slow_deletes_of:
                            time.sleep(proxy.slow_seconds)
                if fault is not None:
                    proxy.refused += 1
                    status, error = fault
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=30
                )
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    # A HEAD answer keeps the object's length (its body is empty).
                    skipped = (
                        HOP_HEADERS if self.command == "HEAD" else HOP_HEADERS | {"content-length"}
                    )
                    for key, value in answer.getheaders():
                        if key.lower() not in skipped:
                            self.send_header(key, value)
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faulty-s3", daemon=True
        )

    def __enter__(self) -> FaultyS3:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
