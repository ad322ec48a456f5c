"""WebRTC live view over WHEP (issue 12, item 1), with a real aiortc peer as the viewer
against the real media engine recording the simulator (masked and pass-through).

What is proven: a viewer gets 201 with an SDP answer and a Location, receives and
decodes frames, and DELETE ends it; ten viewers open no encoder (no per-viewer encode);
a role without ``live.view`` gets 403, audited (ACC-1); garbage SDP gets 400 with the
reason; a viewer is cut when their token is revoked (ACC-1); fifty offers whose ICE
never completes leave no peer connection behind. The sender (packetization, RTCP and
RTX, datagrams in runs) is in ``test_whep_sender.py``; the browser (Chromium) side is in
``test_whep_browser.py``; what these share in ``whep.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from tests.recorder.conftest import Rig, rigged, wait_for
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera a test
from tests.web.whep import SDP, SQLITE_ONLY, Viewer, bearer, poster
from tests.web.whep import masked as masked  # the fixtures: the simulator recorded
from tests.web.whep import passthrough as passthrough
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, Role, User
from vms.media.codec import Encoder
from vms.services import Services

# -- viewers ----------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_masked_camera_gets_the_mask_encoder_packets_PSCS_1_INV_5_ACC_6(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    rig = masked
    gateway = rig.recorder.webrtc
    encoders = Encoder.opened()
    post = poster(client, rig.camera_id, tokens["dispatcher"])

    async def run() -> None:
        viewers = [Viewer() for _ in range(10)]
        try:
            await viewers[0].connect(post)
            await viewers[0].wait_frames(3, seconds=10)
            frame = viewers[0].frames[-1]
            assert (frame.width, frame.height) == (320, 180)
            for viewer in viewers[1:]:
                await viewer.connect(post)
            for viewer in viewers:
                await viewer.wait_frames(3, seconds=15)
            # Ten viewers, and still the one mask encoder: nothing encoded per viewer.
            assert Encoder.opened() == encoders
            assert gateway.senders_encoding() == 0
            assert gateway.session_count == 10
            # Each frame is packetized once for all ten, not once a viewer.
            sent = sum(gateway.packets_sent(sid) for sid in gateway.sessions(rig.camera_id))
            assert 0 < gateway.packetized(rig.camera_id) < sent / 3
            # One hub subscriber carries the packets to the loop for all ten.
            hub = rig.recorder.hub(rig.camera_id)
            assert hub.async_queues == 10
            subscribers = hub.subscriber_count
            # DELETE on the Location ends the session.
            gone = await asyncio.to_thread(
                client.delete, viewers[0].location, headers=bearer(tokens["dispatcher"])
            )
            assert gone.status_code == 204
            assert gateway.session_count == 9
            assert hub.async_queues == 9 and hub.subscriber_count == subscribers
            again = await asyncio.to_thread(
                client.delete, viewers[0].location, headers=bearer(tokens["dispatcher"])
            )
            assert again.status_code == 404
            # Somebody else's session is not theirs to end.
            other = await asyncio.to_thread(
                client.delete, viewers[1].location, headers=bearer(tokens["sergeant"])
            )
            assert other.status_code == 404 and gateway.session_count == 9
        finally:
            for viewer in viewers:
                await viewer.close()

    asyncio.run(run())
    wait_for(lambda: gateway.session_count == 0, 10, "sessions closed with their peers")
    with services.db.session() as s:
        views = (
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "live.view", AuditEntry.actor == "dispatcher"
                )
            )
            .scalars()
            .all()
        )
    assert len(views) == 10
    assert {v.details["kind"] for v in views} == {"webrtc"}
    assert all(v.target == f"camera:{rig.camera_id}" and v.outcome == "ok" for v in views)


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_pass_through_camera_gets_the_camera_packets(
    passthrough: tuple[Recorder, str], client: Any, tokens: dict[str, str]
) -> None:
    recorder, camera_id = passthrough
    encoders = Encoder.opened()

    async def run() -> None:
        viewer = Viewer()
        try:
            await viewer.connect(poster(client, camera_id, tokens["sergeant"]))
            await viewer.wait_frames(3, seconds=15)
        finally:
            await viewer.close()

    asyncio.run(run())
    assert Encoder.opened() == encoders  # no encoder at all: the camera's own packets
    assert recorder.webrtc.senders_encoding() == 0


# -- refusals ---------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_whep_refusals_403_audited_and_400_with_a_reason_ACC_1(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    url = f"/api/v1/cameras/{masked.camera_id}/whep"
    offer = asyncio.run(_an_offer())
    for role in ("investigator", "officer", "auditor", "commander"):
        r = client.post(url, data=offer, headers=bearer(tokens[role]) | SDP)
        assert r.status_code == 403, role
        assert r.json["error"]["kind"] == "permission_denied"
    with services.db.session() as s:
        denied = (
            s.execute(
                select(AuditEntry.actor).where(
                    AuditEntry.action == "live.view", AuditEntry.outcome == "denied"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(denied) == ["auditor", "commander", "investigator", "officer"]
    assert client.post(url, data=offer, headers=SDP).status_code == 401

    dispatcher = bearer(tokens["dispatcher"])
    bad = {
        "hello": "must start with v=0",
        "": "must start with v=0",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n": "no video",
        offer.replace("H264/90000", "H265/90000"): "no H.264",
        offer.replace("a=fingerprint:", "a=fingerprnt:"): "fingerprint",
        offer.replace("a=setup:", "a=setup:x"): "refused",
    }
    for body, reason in bad.items():
        r = client.post(url, data=body, headers=dispatcher | SDP)
        assert r.status_code == 400, (body[:40], r.status_code)
        assert r.json["error"]["kind"] == "invalid_argument"
        assert reason in r.json["error"]["message"], r.json
    r = client.post(url, data=offer, headers=dispatcher | {"Content-Type": "application/json"})
    assert r.status_code == 400 and "application/sdp" in r.json["error"]["message"]
    r = client.post(url, data=b"v=0\xff\xfe", headers=dispatcher | SDP)
    assert r.status_code == 400 and "UTF-8" in r.json["error"]["message"]
    missing = client.post("/api/v1/cameras/nope/whep", data=offer, headers=dispatcher | SDP)
    assert missing.status_code == 404
    assert masked.recorder.webrtc.session_count == 0  # nothing was opened by refusals


async def _an_offer() -> str:
    viewer = Viewer()
    try:
        return await viewer.offer()
    finally:
        await viewer.close()


def _demote(services: Services, actors: dict[str, Actor], token: str) -> None:
    with services.db.transaction() as s:
        user = s.execute(select(User).where(User.username == "dispatcher")).scalar_one()
        user.role = Role.INVESTIGATOR.value


def _revoke(services: Services, actors: dict[str, Actor], token: str) -> None:
    services.users.revoke_token(actors["dispatcher"], token)


@SQLITE_ONLY
@pytest.mark.timeout(120)
@pytest.mark.parametrize("cut", [_revoke, _demote], ids=["token-revoked", "role-lost"])
def test_a_viewer_is_cut_when_their_token_is_revoked_or_role_lost_ACC_1(
    masked: Rig,
    client: Any,
    services: Services,
    actors: dict[str, Actor],
    cut: Callable[[Services, dict[str, Actor], str], None],
) -> None:
    gateway = masked.recorder.webrtc
    gateway.settings = dataclasses.replace(gateway.settings, recheck_seconds=0.3)
    token = services.users.issue_token(actors["dispatcher"]).token

    async def run() -> None:
        viewer = Viewer()
        try:
            await viewer.connect(poster(client, masked.camera_id, token))
            await viewer.wait_frames(2, seconds=15)
            assert gateway.session_count == 1
            await asyncio.to_thread(cut, services, actors, token)
            deadline = time.monotonic() + 10
            while gateway.session_count:
                assert time.monotonic() < deadline, "the viewer was not cut"
                await asyncio.sleep(0.1)
            await asyncio.wait_for(viewer.ended.wait(), 10)  # the stream ended for them
        finally:
            await viewer.close()

    asyncio.run(run())
    assert "credential revoked" in gateway.closed_reasons.values()


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_offers_whose_ice_never_completes_leak_no_peer_connections(
    masked: Rig, client: Any, tokens: dict[str, str]
) -> None:
    from aiortc import RTCPeerConnection as PeerConnection

    gateway = masked.recorder.webrtc
    # Fifty from one user: above the per-user limit's default of 32 (its own test below).
    gateway.settings = dataclasses.replace(
        gateway.settings, connect_timeout_seconds=10.0, max_sessions_per_user=50
    )
    offer = asyncio.run(_an_offer())  # never answered: its ICE never completes
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    gc.collect()
    before = sum(issubclass(type(o), PeerConnection) for o in gc.get_objects())
    for _ in range(50):
        assert post(offer).status_code == 201
    assert gateway.session_count == 50
    wait_for(lambda: gateway.session_count == 0, 30, "unconnected sessions closed")
    assert set(gateway.closed_reasons.values()) == {"ICE did not complete in time"}
    assert gateway.peer_connections() == 0
    # And nothing holds on to them: the peer connection objects themselves are gone.
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        left = sum(issubclass(type(o), PeerConnection) for o in gc.get_objects()) - before
        if left <= 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left <= 0, f"{left} peer connections still referenced"


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_an_offer_that_times_out_closes_its_peer_connection_and_sockets(
    masked: Rig, client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offer the engine does not answer within ``_call``'s timeout is cancelled
    (503): its peer connection, whose ICE gathering bound UDP sockets, must be closed
    too. The cancellation (CancelledError, not an Exception) used to skip the cleanup,
    so each such offer left a peer connection and its sockets open for good."""
    import functools

    from aiortc import RTCPeerConnection as PeerConnection

    from recorder.webrtc import WhepGateway

    gateway = masked.recorder.webrtc
    offer = asyncio.run(_an_offer())
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    opened: list[Any] = []
    answer = PeerConnection.setLocalDescription

    async def slow_answer(pc: Any, description: Any) -> None:
        opened.append(pc)
        await answer(pc, description)  # gathers: the UDP sockets are bound
        await asyncio.sleep(60)  # then the engine does not answer in time

    monkeypatch.setattr(PeerConnection, "setLocalDescription", slow_answer)
    monkeypatch.setattr(
        gateway, "_call", functools.partial(WhepGateway._call, gateway, timeout=1.0)
    )
    sockets = _open_udp_sockets()
    for _ in range(3):
        response = post(offer)
        assert response.status_code == 503, response.status_code
        assert "did not answer in time" in response.json["error"]["message"]
    assert len(opened) == 3 and gateway.session_count == 0
    # The gateway's loop closes them after the cancellation: give it a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        any(pc.connectionState != "closed" for pc in opened) or _open_udp_sockets() > sockets
    ):
        time.sleep(0.2)
    left = [pc.connectionState for pc in opened if pc.connectionState != "closed"]
    assert not left, f"{len(left)} of 3 timed-out offers left their peer connection {left}"
    assert _open_udp_sockets() <= sockets, f"{_open_udp_sockets() - sockets} UDP sockets left"


def _open_udp_sockets() -> int:
    """UDP sockets this process holds (``/proc/self/fd`` links to inodes of
    ``/proc/net/udp``): what each peer connection's ICE gathering binds."""
    import os

    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            inodes |= {line.split()[9] for line in list(f)[1:]}
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            held += link.startswith("socket:[") and link[8:-1] in inodes
    return held


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_one_user_holds_at_most_max_sessions_per_user_webrtc_views(
    masked: Rig, client: Any, tokens: dict[str, str], services: Services
) -> None:
    """Each WHEP offer, answered or not, holds UDP sockets and DTLS state on the media
    node until it closes; one dispatcher posting offers in a loop used to hold as many
    as they posted (a few hundred in the 15 s an unanswered one lives: the node's file
    descriptors). One more than ``[webrtc] max_sessions_per_user`` is 429 naming the
    limit, audited as a refused view; other users are not affected, and a session that
    ends gives its slot back (DELETE, or the connect timeout)."""
    gateway = masked.recorder.webrtc
    gateway.settings = dataclasses.replace(
        gateway.settings, max_sessions_per_user=3, connect_timeout_seconds=4.0
    )
    offer = asyncio.run(_an_offer())  # never answered: held until the connect timeout
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    sockets = _open_udp_sockets()
    held = [post(offer) for _ in range(3)]
    assert [r.status_code for r in held] == [201, 201, 201]
    assert _open_udp_sockets() > sockets  # what each session costs the node
    refused = post(offer)
    assert refused.status_code == 429, refused.status_code
    assert refused.json["error"]["kind"] == "rate_limited"
    message = refused.json["error"]["message"]
    assert "[webrtc] max_sessions_per_user = 3" in message and "3 WebRTC" in message
    assert gateway.session_count == 3  # nothing was opened for the refused offer
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "live.view", AuditEntry.outcome == "denied"
            )
        ).scalar_one()
    assert denied.actor == "dispatcher"
    assert "max_sessions_per_user" in denied.details["reason"]
    # Another user's views are theirs: the limit is per user.
    assert poster(client, masked.camera_id, tokens["admin"])(offer).status_code == 201
    # Ending one gives its slot back.
    ended = client.delete(held[0].headers["Location"], headers=bearer(tokens["dispatcher"]))
    assert ended.status_code == 204, ended.status_code
    assert post(offer).status_code == 201
    assert post(offer).status_code == 429
    # So does the connect timeout of sessions that never connected.
    wait_for(lambda: gateway.session_count == 0, 30, "unconnected sessions closed")
    assert [post(offer).status_code for _ in range(3)] == [201, 201, 201]


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_the_reasons_of_closed_sessions_are_kept_for_the_latest_only(
    masked: Rig, client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``closed_reasons`` used to keep an entry for every session since the node
    started: a viewer opening and ending sessions in a loop (or months of ordinary
    viewing) grew it without bound. It keeps the newest ``CLOSED_REASONS_KEPT``."""
    import recorder.webrtc

    monkeypatch.setattr(recorder.webrtc, "CLOSED_REASONS_KEPT", 3)
    gateway = masked.recorder.webrtc
    offer = asyncio.run(_an_offer())
    post = poster(client, masked.camera_id, tokens["dispatcher"])
    ended = []
    for _ in range(5):
        r = post(offer)
        assert r.status_code == 201
        gone = client.delete(r.headers["Location"], headers=bearer(tokens["dispatcher"]))
        assert gone.status_code == 204
        ended.append(r.headers["Location"].rsplit("/", 1)[1])
    assert list(gateway.closed_reasons) == ended[-3:]
    assert set(gateway.closed_reasons.values()) == {"ended by the viewer"}


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_of_a_masked_camera_joins_at_a_keyframe_made_for_them(
    services: Services, sim: SimulatedCamera, client: Any, tokens: dict[str, str]
) -> None:
    """The mask encoder's GOP is 30 s here: a viewer decoding frames within a few
    seconds got an IDR made when they joined (not the next scheduled one)."""
    recorder = get_recorder(services)
    recorder.settings = dataclasses.replace(recorder.settings, keyframe_seconds=30.0)
    with rigged(services, sim) as rig:
        rig.recorder.start()
        rig.wait_streaming()
        hub = rig.recorder.hub(rig.camera_id)
        published: list[bool] = []  # one entry per packet published: a keyframe?
        hub.subscribe(lambda p: published.append(bool(getattr(p, "keyframe", False))))
        # The stream's first IDR may be out before we subscribed: waiting for it would
        # wait for the next scheduled one, 30 s on. Any packet says the encoder runs.
        wait_for(lambda: len(published) >= 1, 30, "the first packet")
        time.sleep(1.0)  # well inside the 30 s GOP
        first = sum(published)

        async def run() -> float:
            viewer = Viewer()
            try:
                started = time.monotonic()
                await viewer.connect(poster(client, rig.camera_id, tokens["dispatcher"]))
                await viewer.wait_frames(1, seconds=10)
                return time.monotonic() - started
            finally:
                await viewer.close()

        took = asyncio.run(run())
        assert took < 10.0  # a third of the GOP: not its next scheduled IDR
        assert sum(published) > first  # an IDR was made for the viewer


@SQLITE_ONLY
@pytest.mark.timeout(120)
def test_a_viewer_is_still_cut_when_revoked_after_the_database_was_away_ACC_1(
    masked: Rig,
    client: Any,
    services: Services,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The credential re-check of a WebRTC view (ACC-1) raised out of its task when the
    database did not answer once: the task ended, and that viewer was never checked
    again for as long as they watched (a node up for months meets a database restart).
    It now logs the failure and checks again next round."""
    from sqlalchemy.exc import OperationalError

    gateway = masked.recorder.webrtc
    # An offer never answered holds its session until the connect timeout: long here.
    gateway.settings = dataclasses.replace(
        gateway.settings, recheck_seconds=0.2, connect_timeout_seconds=60.0
    )
    token = services.users.issue_token(actors["dispatcher"]).token
    real = services.users.still_valid
    failures = {"left": 3}

    def away_then_back(credential: Any) -> bool:
        # The fake is the database's answer only: what is examined is the watch.
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(credential)

    monkeypatch.setattr(services.users, "still_valid", away_then_back)
    reply = poster(client, masked.camera_id, token)(asyncio.run(_an_offer()))
    assert reply.status_code == 201
    wait_for(lambda: failures["left"] == 0, 20, "the re-checks while the database was away")
    _revoke(services, actors, token)
    wait_for(lambda: gateway.session_count == 0, 20, "the revoked viewer cut")
    assert list(gateway.closed_reasons.values()) == ["credential revoked"]
