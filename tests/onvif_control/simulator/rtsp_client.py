"""A tiny blocking RTSP client for tests: raw requests, Digest auth, interleaved reads.

Written separately from the server's code (it computes Digest itself) so the tests do
not check the server against its own implementation.
"""

from __future__ import annotations

import hashlib
import re
import socket
import struct
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class RawRtsp:
    """One TCP connection to an RTSP server."""

    def __init__(self, port: int, username: str = "", password: str = "", timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.port = port
        self.username, self.password = username, password
        self.cseq = 0
        self.challenge: dict[str, str] | None = None
        self.buffer = b""

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream1"

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a TCP reset, like a client that crashed."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _authorization(self, method: str, url: str) -> str | None:
        if self.challenge is None or not self.username:
            return None
        realm, nonce = self.challenge["realm"], self.challenge["nonce"]
        ha1 = _md5(f"{self.username}:{realm}:{self.password}")
        response = _md5(f"{ha1}:{nonce}:{_md5(f'{method}:{url}')}")
        return (
            f'Digest username="{self.username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{url}", response="{response}"'
        )

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(
        self,
        method: str,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
    ) -> Reply:
        url = url or self.url
        for _ in range(2):
            self.cseq += 1
            lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}"]
            authorization = self._authorization(method, url) if auth else None
            if authorization:
                lines.append(f"Authorization: {authorization}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            reply = self.read_reply()
            if reply.status == 401 and auth and self.username and self.challenge is None:
                value = reply.headers["www-authenticate"]
                self.challenge = dict(re.findall(r'(\w+)="([^"]*)"', value))
                continue
            return reply
        return reply

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def read_reply(self) -> Reply:
        """Read the next RTSP reply, skipping interleaved packets."""
        while True:
            while len(self.buffer) < 4:
                self._fill()
            if self.buffer[:1] == b"$":
                self.read_interleaved()
                continue
            while b"\r\n\r\n" not in self.buffer:
                self._fill()
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(self.buffer) < length:
                self._fill()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            return Reply(status, headers, body)

    def read_interleaved(self) -> tuple[int, bytes]:
        """The next interleaved frame: (channel, packet)."""
        while len(self.buffer) < 4:
            self._fill()
        if self.buffer[:1] != b"$":
            raise AssertionError(f"expected an interleaved frame, got {self.buffer[:20]!r}")
        channel, length = self.buffer[1], struct.unpack("!H", self.buffer[2:4])[0]
        while len(self.buffer) < 4 + length:
            self._fill()
        packet = self.buffer[4 : 4 + length]
        self.buffer = self.buffer[4 + length :]
        return channel, packet

    def play_tcp(self) -> str:
        """DESCRIBE, SETUP (TCP interleaved 0-1), PLAY; returns the session id."""
        assert self.request("DESCRIBE", headers={"Accept": "application/sdp"}).status == 200
        setup = self.request(
            "SETUP", self.url + "/track1", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        assert setup.status == 200, setup
        session = setup.headers["session"].split(";")[0]
        assert self.request("PLAY", headers={"Session": session}).status == 200
        return session
