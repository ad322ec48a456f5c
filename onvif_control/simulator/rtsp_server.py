"""RTSP server of a simulated camera (asyncio), fed by the camera's :class:`StreamHub`.

One presentation (``/stream1``) with one H.264 track (``/stream1/track1``). Methods:
OPTIONS, DESCRIBE, SETUP (RTP/AVP/TCP interleaved or RTP/AVP UDP unicast), PLAY, PAUSE,
GET_PARAMETER (keep-alive), TEARDOWN; anything else is 501. Digest authentication on
everything but OPTIONS. Sessions belong to the connection that set them up and end with
it; UDP sessions also expire after ``SESSION_TIMEOUT`` seconds without a request or RTCP.

State per session: READY after SETUP, PLAYING after PLAY, READY again after PAUSE;
requests in the wrong state get 455, unknown sessions 454.

What a session gets first after PLAY is the camera's :class:`PlayStart`: a fresh IDR
(the default), P frames as they come, or nothing until the camera's next keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from onvif_control.simulator.auth import DigestAuthenticator
from onvif_control.simulator.rtp import (
    h264_sdp,
    interleaved,
    ntp_timestamp,
    rtcp_sender_report,
    rtp_packet,
)
from onvif_control.simulator.rtsp_message import (
    MAX_HEAD_BYTES,
    RtspError,
    RtspRequest,
    TransportSpec,
    choose_transport,
    content_length,
    parse_request_head,
    response,
)
from onvif_control.simulator.stream import AccessUnit, StreamHub

log = logging.getLogger(__name__)

STREAM_PATH = "/stream1"
TRACK = "track1"
SESSION_TIMEOUT = 60
RTCP_INTERVAL = 5.0
#: A TCP client more than this many bytes behind loses frames until the next keyframe.
MAX_BACKLOG = 2 * 1024 * 1024
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, TEARDOWN"


class PlayStart(enum.StrEnum):
    """What an RTSP session gets first after PLAY; cameras differ."""

    #: A fresh IDR asked of the hub, nothing before it (the default; some cameras).
    IDR = "idr"
    #: The shared encoder's frames as they come: P frames that decode only from the next
    #: keyframe (many cameras).
    P_FRAMES = "p_frames"
    #: Nothing until the camera's next keyframe: its GOP, or one asked with ONVIF
    #: ``SetSynchronizationPoint`` (some cameras; a client's reads may time out first).
    NEXT_KEYFRAME = "next_keyframe"


class _UdpSink(asyncio.DatagramProtocol):
    """Server side of one UDP port; notes received RTCP as liveness."""

    def __init__(self, on_packet: Callable[[], None]) -> None:
        self._on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._on_packet()

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error (client port closed?): %s", exc)


@dataclass(eq=False)
class Session:
    """One RTP session (one track) of one client."""

    id: str
    transport: TransportSpec
    writer: asyncio.StreamWriter
    client_host: str
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    seq: int = field(default_factory=lambda: secrets.randbits(16))
    ts_offset: int = field(default_factory=lambda: secrets.randbits(32))
    playing: bool = False
    play_after: float = 0.0
    need_keyframe: bool = True
    # The session asked the hub for an IDR (at PLAY, or when behind): asked again at each
    # frame it skips until one comes.
    idr_asked: bool = False
    packets: int = 0
    octets: int = 0
    last_rtcp: float = -1e9
    last_seen: float = field(default_factory=time.monotonic)
    rtp_udp: asyncio.DatagramTransport | None = None
    rtcp_udp: asyncio.DatagramTransport | None = None
    subscriber: Callable[[AccessUnit], None] | None = None

    def close_udp(self) -> None:
        for transport in (self.rtp_udp, self.rtcp_udp):
            if transport is not None:
                transport.close()


class RtspServer:
    """Serves one camera's stream over RTSP."""

    def __init__(
        self,
        hub: StreamHub,
        username: str,
        password: str,
        label: str,
        advertised_host: str,
        *,
        play_start: PlayStart = PlayStart.IDR,
    ) -> None:
        self._hub = hub
        self._play_start = play_start
        self._auth = DigestAuthenticator(
            f"vms-sim-{label}", username, password, nonce_lifetime=86_400.0
        )
        self._label = label
        self._host = advertised_host
        self._server: asyncio.Server | None = None
        self._bind_host = ""
        self._connections: set[asyncio.Task[None]] = set()
        self._sessions: dict[str, Session] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._sdp_session_id = secrets.randbits(31)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The stream URL clients use."""
        return f"rtsp://{self._host}:{self.port}{STREAM_PATH}"

    @property
    def session_count(self) -> int:
        """Number of live sessions (for tests and logs)."""
        return len(self._sessions)

    async def start(self, host: str, port: int) -> None:
        """Bind and start serving."""
        self._bind_host = host
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        self._reaper = asyncio.create_task(self._reap(), name=f"rtsp-reaper-{self._label}")

    async def close(self) -> None:
        """Stop serving, end all sessions and connections."""
        if self._server is not None:
            self._server.close()
        if self._reaper is not None:
            self._reaper.cancel()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for session in list(self._sessions.values()):
            self._end(session)
        if self._server is not None:
            await self._server.wait_closed()

    # Connections -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if peer else ""
        owned: dict[str, Session] = {}
        log.debug("%s RTSP connection from %s", self._label, peer)
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":  # interleaved RTCP from the client: liveness only
                    header = await reader.readexactly(3)
                    await reader.readexactly(int.from_bytes(header[1:3], "big"))
                    for session in owned.values():
                        session.last_seen = time.monotonic()
                    continue
                try:
                    head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30.0)
                except asyncio.LimitOverrunError:
                    writer.write(response(400, None, body=b"request head too large"))
                    return
                keep = await self._request(head, reader, writer, peer_host, owned)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # client vanished or idled out; its sessions end below
        finally:
            for session in list(owned.values()):
                self._end(session)
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            log.debug("%s RTSP connection from %s closed", self._label, peer)

    async def _request(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer_host: str,
        owned: dict[str, Session],
    ) -> bool:
        cseq: str | None = None
        try:
            request = parse_request_head(head[:-4])
            cseq = request.cseq
            length = content_length(request)
            if length:
                body = await asyncio.wait_for(reader.readexactly(length), 10.0)
                request = RtspRequest(request.method, request.url, request.headers, body)
            writer.write(await self._dispatch(request, writer, peer_host, owned))
            return True
        except RtspError as exc:
            if exc.status >= 500 or exc.status == 400:
                log.info("%s RTSP %d: %s", self._label, exc.status, exc)
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = self._auth.challenge(time.monotonic(), qop=False)
            if exc.status == 405:
                headers["Allow"] = PUBLIC
            writer.write(
                response(exc.status, cseq, headers, str(exc).encode() if exc.status != 401 else b"")
            )
            return not exc.close

    async def _dispatch(
        self,
        request: RtspRequest,
        writer: asyncio.StreamWriter,
        peer_host: str,
        owned: dict[str, Session],
    ) -> bytes:
        method = request.method
        if method == "OPTIONS":
            return response(200, request.cseq, {"Public": PUBLIC})
        if method not in ("DESCRIBE", "SETUP", "PLAY", "PAUSE", "GET_PARAMETER", "TEARDOWN"):
            if method in ("ANNOUNCE", "RECORD", "SET_PARAMETER", "REDIRECT"):
                raise RtspError(405, f"{method} is not allowed on this camera")
            raise RtspError(501, f"method {method!r} is not implemented")
        if not self._auth.check(
            method, request.headers.get("authorization"), time.monotonic(), allow_basic=False
        ):
            raise RtspError(401, "authentication required")
        session = self._session_for(request, owned)
        if session is not None:
            session.last_seen = time.monotonic()
        if method == "DESCRIBE":
            return self._describe(request)
        if method == "SETUP":
            return await self._setup(request, writer, peer_host, owned, session)
        if method == "GET_PARAMETER":
            return response(200, request.cseq, self._session_header(session))
        if session is None:
            raise RtspError(454, f"{method} needs the Session returned by SETUP")
        if method == "PLAY":
            return self._play(request, session)
        if method == "PAUSE":
            if not session.playing:
                raise RtspError(455, "PAUSE is only valid while playing")
            session.playing = False
            self._unsubscribe(session)
            log.info("%s session %s PLAYING -> READY", self._label, session.id)
            return response(200, request.cseq, self._session_header(session))
        # TEARDOWN
        self._end(session)
        owned.pop(session.id, None)
        return response(200, request.cseq)

    def _session_for(self, request: RtspRequest, owned: dict[str, Session]) -> Session | None:
        sid = request.session_id
        if sid is None:
            return None
        session = owned.get(sid)
        if session is None:
            raise RtspError(454, f"session {sid!r} not found on this connection")
        return session

    def _check_url(self, request: RtspRequest, *, track: bool) -> None:
        path = request.path
        allowed = {STREAM_PATH, f"{STREAM_PATH}/{TRACK}"} if track else {STREAM_PATH}
        if path not in allowed:
            raise RtspError(404, f"no stream at {path!r} (use {STREAM_PATH})")

    def _describe(self, request: RtspRequest) -> bytes:
        self._check_url(request, track=False)
        accept = request.headers.get("accept")
        if accept and "application/sdp" not in accept and "*/*" not in accept:
            raise RtspError(406, f"only application/sdp can be offered, not {accept!r}")
        sps, pps = self._hub.parameter_sets
        host = urlsplit(request.url).hostname or self._host
        sdp = h264_sdp(host, self._sdp_session_id, sps, pps, self._hub.fps, self._hub.encoder.size)
        base = request.url.rstrip("/") + "/"
        return response(
            200,
            request.cseq,
            {"Content-Type": "application/sdp", "Content-Base": base},
            sdp.encode("utf-8"),
        )

    async def _setup(
        self,
        request: RtspRequest,
        writer: asyncio.StreamWriter,
        peer_host: str,
        owned: dict[str, Session],
        session: Session | None,
    ) -> bytes:
        self._check_url(request, track=True)
        if session is not None:
            raise RtspError(459, "the stream has one track, already set up in this session")
        spec = choose_transport(request.headers.get("transport"))
        session = Session(secrets.token_hex(8), spec, writer, peer_host)
        if spec.tcp:
            channels = f"{spec.channels[0]}-{spec.channels[1]}"
            transport = f"RTP/AVP/TCP;unicast;interleaved={channels};ssrc={session.ssrc:08X}"
        else:
            server_ports = await self._open_udp(session)
            transport = (
                f"RTP/AVP;unicast;client_port={spec.client_ports[0]}-{spec.client_ports[1]};"
                f"server_port={server_ports[0]}-{server_ports[1]};ssrc={session.ssrc:08X}"
            )
        owned[session.id] = session
        self._sessions[session.id] = session
        log.info(
            "%s session %s INIT -> READY (%s)",
            self._label,
            session.id,
            "TCP" if spec.tcp else "UDP",
        )
        return response(
            200, request.cseq, {"Transport": transport, **self._session_header(session)}
        )

    async def _open_udp(self, session: Session) -> tuple[int, int]:
        loop = asyncio.get_running_loop()

        def alive() -> None:
            session.last_seen = time.monotonic()

        for _ in range(20):  # look for an even/odd port pair, as RFC 3550 recommends
            rtp_t, _ = await loop.create_datagram_endpoint(
                lambda: _UdpSink(alive), local_addr=(self._bind_host, 0)
            )
            port = int(rtp_t.get_extra_info("sockname")[1])
            if port % 2 == 0:
                try:
                    rtcp_t, _ = await loop.create_datagram_endpoint(
                        lambda: _UdpSink(alive), local_addr=(self._bind_host, port + 1)
                    )
                except OSError:
                    rtp_t.close()
                    continue
                session.rtp_udp, session.rtcp_udp = rtp_t, rtcp_t
                return port, port + 1
            rtp_t.close()
        raise RtspError(453, "no UDP port pair available")

    def _play(self, request: RtspRequest, session: Session) -> bytes:
        self._check_url(request, track=True)
        now = time.monotonic()
        rtptime = (session.ts_offset + round((now - self._hub.epoch) * 90_000)) & 0xFFFFFFFF
        headers = {
            **self._session_header(session),
            "Range": "npt=now-",
            "RTP-Info": f"url={request.url.rstrip('/')};seq={session.seq};rtptime={rtptime}",
        }
        if not session.playing:
            session.playing = True
            session.need_keyframe = self._play_start is not PlayStart.P_FRAMES
            session.idr_asked = self._play_start is PlayStart.IDR
            session.play_after = now - 0.5 / self._hub.fps
            self._hub.subscribe(self._subscriber(session), keyframe=session.idr_asked)
            log.info("%s session %s READY -> PLAYING", self._label, session.id)
        return response(200, request.cseq, headers)

    def _subscriber(self, session: Session) -> Callable[[AccessUnit], None]:
        if session.subscriber is None:
            session.subscriber = functools.partial(self._send, session)
        return session.subscriber

    def _unsubscribe(self, session: Session) -> None:
        if session.subscriber is not None:
            self._hub.unsubscribe(session.subscriber)

    def _session_header(self, session: Session | None) -> dict[str, str]:
        if session is None:
            return {}
        return {"Session": f"{session.id};timeout={SESSION_TIMEOUT}"}

    def _end(self, session: Session) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        self._unsubscribe(session)
        session.close_udp()
        log.info("%s session %s ended", self._label, session.id)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            limit = time.monotonic() - SESSION_TIMEOUT
            for session in list(self._sessions.values()):
                if not session.transport.tcp and session.last_seen < limit:
                    log.info("%s session %s timed out", self._label, session.id)
                    self._end(session)

    # Media -------------------------------------------------------------------------

    def _send(self, session: Session, unit: AccessUnit) -> None:
        if not session.playing or unit.capture_monotonic < session.play_after:
            return
        writer = session.writer
        if writer.is_closing():
            return
        if session.transport.tcp and writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            if not session.need_keyframe:
                log.info(
                    "%s session %s is behind; dropping until a keyframe", self._label, session.id
                )
                session.need_keyframe = session.idr_asked = True
                self._hub.request_keyframe()
            return
        if session.need_keyframe:
            if not unit.keyframe:
                if session.idr_asked:
                    # The IDR asked at PLAY (or when behind) can go to a frame captured
                    # before this session's start, which it skips: ask again, or it
                    # waits a GOP.
                    self._hub.request_keyframe()
                return
            session.need_keyframe = session.idr_asked = False
        timestamp = (session.ts_offset + unit.rtp_time) & 0xFFFFFFFF
        chunks = []
        for payload in unit.payloads:
            packet = rtp_packet(payload, session.seq, timestamp, session.ssrc)
            session.seq = (session.seq + 1) & 0xFFFF
            session.packets += 1
            session.octets += len(payload.data)
            chunks.append(packet)
        if unit.capture_monotonic - session.last_rtcp >= RTCP_INTERVAL:
            session.last_rtcp = unit.capture_monotonic
            report = rtcp_sender_report(
                session.ssrc,
                ntp_timestamp(unit.capture_utc),
                timestamp,
                session.packets,
                session.octets,
                f"vms-sim@{self._host}",
            )
        else:
            report = None
        if session.transport.tcp:
            rtp_channel, rtcp_channel = session.transport.channels
            data = b"".join(interleaved(rtp_channel, p) for p in chunks)
            if report is not None:
                data += interleaved(rtcp_channel, report)
            writer.write(data)
        else:
            rtp_t, rtcp_t = session.rtp_udp, session.rtcp_udp
            if rtp_t is None or rtcp_t is None or rtp_t.is_closing():
                return
            rtp_port, rtcp_port = session.transport.client_ports
            for packet in chunks:
                rtp_t.sendto(packet, (session.client_host, rtp_port))
            if report is not None:
                rtcp_t.sendto(report, (session.client_host, rtcp_port))
