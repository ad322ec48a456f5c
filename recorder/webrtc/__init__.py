"""WebRTC live view (WHEP, RFC 9725) with aiortc: the pipeline's H.264 packets to every
viewer, no per-viewer encode.

Each viewer gets a :class:`~recorder.webrtc.peer.PacketTrack` whose ``recv()`` returns
the hub's packets split into RTP payloads (once per camera for all its viewers), sent by
a :class:`~recorder.webrtc.peer.PacketSender` (aiortc's sender with a lean RTP loop that
encodes nothing), so a pass-through camera's viewers get the camera's own packets and a
masked camera's viewers the packets of its single mask encoder (INV-5: nothing
unmasked exists to send; PSCS-1: masks hold on every view). A keyframe is asked for
when a viewer joins or its browser reports picture loss (PLI): of the mask encoder for
a masked camera, of the camera itself (ONVIF ``SetSynchronizationPoint``,
:mod:`recorder.keyframes`) for a pass-through one, whose viewer otherwise waits for the
next GOP (:meth:`PacketHub.subscribe_async` starts every queue at a keyframe).

aiortc runs on one asyncio loop of the media role (thread ``webrtc-loop``); the web
threads hand it coroutines and wait for the answer. The only blocking work a session
does (the credential re-check against the database) runs in the loop's executor.

A session that has not connected ``[webrtc] connect_timeout_seconds`` after its offer is
closed (no peer connection is left behind by offers whose ICE never completes); a
session whose session cookie or token is revoked (or whose user is disabled) is closed
within ``[web] stream_recheck_seconds`` (ACC-1). One user holds at most ``[webrtc]
max_sessions_per_user`` sessions at once, connected or still connecting
(:mod:`recorder.stream_limits`; one more is refused with 429).

aiortc itself is imported by :mod:`recorder.webrtc.peer` only, on the first offer: it
takes ~0.1 s to load, which a process that answers no offer (every ``vms`` command, the
web and jobs roles) need not pay.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from recorder.fanout import PacketHub
from recorder.stream_limits import Release, StreamLimit
from vms.auth.permissions import Actor
from vms.auth.sessions import Credential
from vms.clock import Clock
from vms.errors import InvalidArgument, NotFound, Unavailable
from vms.outage_log import OutageLog

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

    from recorder.webrtc.peer import Packetizer, PacketSender, PacketTrack

log = logging.getLogger(__name__)

T = TypeVar("T")
VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)
MAX_SDP_BYTES = 64 * 1024
# Why the latest sessions closed, kept for tests and diagnosis: the newest this many (the
# record of every session since start grew without bound in a long-running node).
CLOSED_REASONS_KEPT = 1000
_SERIAL = itertools.count(1)


# -- H.264 bitstream helpers --------------------------------------------------------------


def nal_types(data: bytes) -> set[int]:
    """The NAL unit types in an Annex B access unit."""
    types: set[int] = set()
    i, n = 0, len(data)
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0 or i + 3 >= n:
            return types
        types.add(data[i + 3] & 0x1F)
        i += 3


def annexb_parameter_sets(extradata: bytes) -> bytes:
    """SPS/PPS of ``extradata`` in Annex B (it may be avcC, as MP4 and some RTSP
    demuxers give it, or Annex B already); b"" when there are none."""
    if not extradata:
        return b""
    if extradata[0] != 1:  # Annex B already
        return extradata if nal_types(extradata) & {7, 8} else b""
    out = bytearray()
    try:
        pos = 5
        for _kind in range(2):  # SPS then PPS
            count = extradata[pos] & (0x1F if _kind == 0 else 0xFF)
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                pos += 2
                out += b"\x00\x00\x00\x01" + extradata[pos : pos + size]
                pos += size
    except IndexError:
        return b""
    return bytes(out)


# -- sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhepSettings:
    connect_timeout_seconds: float = 15.0
    recheck_seconds: float = 10.0
    # Browsers' ICE servers (STUN/TURN), handed to the page; the server itself gathers
    # host candidates only (non-trickle, answer complete at once).
    ice_servers: tuple[str, ...] = ()
    ice_username: str = ""
    ice_credential: str = ""
    keyframe_interval_seconds: float = 0.5
    # Sessions one user may hold open at once, connected or still connecting (0: no
    # limit): each holds UDP sockets and DTLS state until it ends.
    max_sessions_per_user: int = 32


@dataclass(frozen=True)
class WhepAnswer:
    session_id: str
    camera_id: str
    sdp: str


@dataclass
class _Session:
    session_id: str
    camera_id: str
    username: str
    credential: Credential | None
    pc: RTCPeerConnection
    track: PacketTrack
    sender: PacketSender
    opened: float
    release: Release
    serial: int = field(default_factory=lambda: next(_SERIAL))
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


CredentialCheck = Callable[[Credential | None], bool]


class WhepGateway:
    """WHEP sessions of one media engine. ``hub(camera_id)`` finds a camera's packets
    (NotFound for a camera the engine does not record); ``request_keyframe(camera_id)``
    asks for an IDR (its mask encoder, or the pass-through camera; must not block);
    ``credential_ok(credential)`` re-checks a viewer's session or token (blocking)."""

    def __init__(
        self,
        hub: Callable[[str], PacketHub],
        request_keyframe: Callable[[str], None],
        credential_ok: CredentialCheck,
        settings: WhepSettings,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._hub = hub
        self._request_keyframe = request_keyframe
        self._credential_ok = credential_ok
        self.settings = settings
        self._sessions: dict[str, _Session] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_keyframe: dict[str, float] = {}
        self._keyframe_deferred: set[str] = set()
        self._packetizers: dict[str, Packetizer] = {}
        self.closed_reasons: OrderedDict[str, str] = OrderedDict()
        self._limit = StreamLimit("WebRTC live views", "[webrtc] max_sessions_per_user")

    # -- the loop -------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    # The credential checks still running in the executor end before
                    # stop() returns (their database connections with them).
                    loop.run_until_complete(loop.shutdown_default_executor())

                self._thread = threading.Thread(target=run, name="webrtc-loop", daemon=True)
                self._thread.start()
                ready.wait(10)
                self._loop = loop
            return self._loop

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Unavailable("the WebRTC engine did not answer in time") from None

    def stop(self) -> None:
        """Close every session and stop the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._call(self._close_all(), timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        with contextlib.suppress(RuntimeError):
            loop.close()
        self._loop = None

    async def _close_all(self) -> None:
        for session_id in list(self._sessions):
            await self._close(session_id, "engine stopped")

    # -- viewers --------------------------------------------------------------------------

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def sessions(self, camera_id: str | None = None) -> list[str]:
        return [
            s.session_id
            for s in self._sessions.values()
            if camera_id is None or s.camera_id == camera_id
        ]

    def peer_connections(self) -> int:
        """Peer connections still open (not closed) in this gateway."""
        return sum(1 for s in self._sessions.values() if s.pc.connectionState != "closed")

    def senders_encoding(self) -> int:
        """Senders that may encode: not a :class:`~recorder.webrtc.peer.PacketSender`
        (aiortc's own loop encodes every ``Frame`` a track yields), or whose aiortc
        encoder opened a codec. 0 when every viewer is sent the pipeline's packets as
        they are."""
        from recorder.webrtc import peer

        count = 0
        for s in self._sessions.values():
            encoder = getattr(s.sender, "_RTCRtpSender__encoder", None)
            if not isinstance(s.sender, peer.PacketSender) or (
                encoder is not None and getattr(encoder, "codec", None) is not None
            ):
                count += 1
        return count

    def packetized(self, camera_id: str) -> int:
        """Frames of ``camera_id`` split into RTP payloads while it had viewers: one
        each, however many viewers (:class:`~recorder.webrtc.peer.Packetizer`)."""
        packetizer = self._packetizers.get(camera_id)
        return packetizer.packetized if packetizer is not None else 0

    def packets_sent(self, session_id: str) -> int:
        session = self._sessions.get(session_id)
        return session.track.packets_sent if session is not None else 0

    def offer(
        self, actor: Actor, camera_id: str, sdp: str, credential: Credential | None
    ) -> WhepAnswer:
        """Answer a viewer's SDP offer (the role check and audit are the caller's:
        :class:`~recorder.live_views.LiveViews`). InvalidArgument with the reason for an
        offer that is not SDP or has no H.264 video to receive; RateLimited when the
        actor holds ``max_sessions_per_user`` sessions already (counted from the offer:
        a session still connecting holds its sockets too)."""
        hub = self._hub(camera_id)  # NotFound before any peer connection exists
        check_offer(sdp)
        release = self._limit.acquire(actor.username, self.settings.max_sessions_per_user)
        try:
            return self._call(self._offer(actor, camera_id, sdp, credential, hub, release))
        except BaseException:
            # Unless the session was filed: then it gives its slot back when it closes.
            if not any(s.release is release for s in list(self._sessions.values())):
                release()
            raise

    async def _offer(
        self,
        actor: Actor,
        camera_id: str,
        sdp: str,
        credential: Credential | None,
        hub: PacketHub,
        release: Release,
    ) -> WhepAnswer:
        from recorder.webrtc import peer

        session_id = secrets.token_urlsafe(18)
        pc = peer.new_peer_connection()
        packetizer = self._packetizers.setdefault(camera_id, peer.Packetizer())
        ask_keyframe = functools.partial(self.keyframe, camera_id)
        track = peer.PacketTrack(hub, packetizer, ask_keyframe)
        try:
            # The transceiver exists before the offer is applied, so the offer's video
            # section takes it and negotiates H.264 only (the packets we have).
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(peer.h264_codecs())
            # A browser's picture-loss report (RTCP PLI/FIR) asks for a keyframe too.
            sender = peer.PacketSender.adopt(transceiver.sender, ask_keyframe)
        except Exception:
            track.stop()
            await pc.close()
            raise
        try:
            await pc.setRemoteDescription(peer.offer_description(sdp))
            await pc.setLocalDescription(await pc.createAnswer())
        except InvalidArgument:
            track.stop()
            await pc.close()
            raise
        except Exception as exc:  # aiortc's parser and negotiation errors: the offer's fault
            track.stop()
            await pc.close()
            raise InvalidArgument(
                f"the SDP offer was refused: {exc or type(exc).__name__}"
            ) from None
        except BaseException:
            # Cancelled at _call's timeout (CancelledError is no Exception): the peer
            # connection and the UDP sockets its ICE gathering bound were left open.
            track.stop()
            await pc.close()
            raise
        session = _Session(
            session_id,
            camera_id,
            actor.username,
            credential,
            pc,
            track,
            sender,
            self._clock.monotonic(),
            release,
        )
        self._sessions[session_id] = session

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            log.info("WHEP %s (camera %s): %s", session_id[:8], camera_id, state)
            if state in ("failed", "closed"):
                await self._close(session_id, f"connection {state}")

        session.tasks.append(asyncio.create_task(self._connect_deadline(session_id)))
        session.tasks.append(asyncio.create_task(self._watch_credential(session_id)))
        assert pc.localDescription is not None
        return WhepAnswer(session_id, camera_id, pc.localDescription.sdp)

    def keyframe(self, camera_id: str) -> None:
        """Ask for a keyframe of ``camera_id`` (mask encoder or camera), at most every
        ``keyframe_interval_seconds`` (twenty viewers' PLIs are one request); one asked
        sooner is deferred to the end of the interval, not dropped (the viewer who joined
        just after another missed that one's keyframe). Call on the loop's thread."""
        now = self._clock.monotonic()
        wait = self._last_keyframe.get(camera_id, -1e9) + self.settings.keyframe_interval_seconds
        if now >= wait:
            self._last_keyframe[camera_id] = now
            self._request_keyframe(camera_id)
        elif camera_id not in self._keyframe_deferred:
            self._keyframe_deferred.add(camera_id)
            asyncio.get_running_loop().call_later(wait - now, self._deferred_keyframe, camera_id)

    def _deferred_keyframe(self, camera_id: str) -> None:
        self._keyframe_deferred.discard(camera_id)
        self._last_keyframe[camera_id] = self._clock.monotonic()
        self._request_keyframe(camera_id)

    async def _connect_deadline(self, session_id: str) -> None:
        await asyncio.sleep(self.settings.connect_timeout_seconds)
        session = self._sessions.get(session_id)
        if session is not None and session.pc.connectionState != "connected":
            await self._close(session_id, "ICE did not complete in time")

    async def _watch_credential(self, session_id: str) -> None:
        """ACC-1: the viewer's session or token re-checked while they watch. A check that
        fails (the database away) is logged once and made again next round, as the
        Socket.IO watch does: raised, it ended this task and the viewer was never
        checked again."""
        loop = asyncio.get_running_loop()
        rechecks = OutageLog(log)  # once per outage, not once per round
        while True:
            await asyncio.sleep(self.settings.recheck_seconds)
            session = self._sessions.get(session_id)
            if session is None:
                return
            try:
                ok = await loop.run_in_executor(None, self._credential_ok, session.credential)
            except Exception:
                rechecks.failed("WHEP %s: credential re-check failed", session_id[:8])
                continue
            rechecks.works("WHEP %s: credential re-check works again", session_id[:8])
            if not ok:
                log.info(
                    "WHEP %s: %s's credential was revoked; closing the live view",
                    session_id[:8],
                    session.username,
                )
                await self._close(session_id, "credential revoked")
                return

    def close(self, actor: Actor, camera_id: str, session_id: str) -> None:
        """End a viewer's session (their own only; NotFound otherwise)."""
        session = self._sessions.get(session_id)
        if session is None or session.camera_id != camera_id or session.username != actor.username:
            raise NotFound(f"no WHEP session {session_id} of yours on camera {camera_id}")
        self._call(self._close(session_id, "ended by the viewer"))

    async def _close(self, session_id: str, reason: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        self.closed_reasons[session_id] = reason
        while len(self.closed_reasons) > CLOSED_REASONS_KEPT:
            self.closed_reasons.popitem(last=False)
        session.release()
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        session.track.stop()
        await session.pc.close()
        if not any(s.camera_id == session.camera_id for s in self._sessions.values()):
            self._packetizers.pop(session.camera_id, None)
        log.info("WHEP %s (camera %s) closed: %s", session_id[:8], session.camera_id, reason)


def check_offer(sdp: str) -> None:
    """An offer worth handing to aiortc: SDP with a video section offering H.264
    (InvalidArgument naming what is wrong otherwise)."""
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise InvalidArgument(f"the SDP offer is larger than {MAX_SDP_BYTES} bytes")
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0":
        first = lines[0][:40] if lines else ""
        raise InvalidArgument(
            f"the body is not an SDP offer: it must start with v=0, not {first!r}"
        )
    if not any(line.startswith("m=video ") for line in lines):
        raise InvalidArgument("the SDP offer has no video media section (m=video)")
    if not any(
        line.lower().startswith("a=rtpmap:") and "h264/90000" in line.lower() for line in lines
    ):
        raise InvalidArgument("the SDP offer has no H.264 video (a=rtpmap ... H264/90000)")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise InvalidArgument("the SDP offer has no DTLS fingerprint (a=fingerprint)")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise InvalidArgument("the SDP offer has no ICE credentials (a=ice-ufrag)")
