"""Abuse of the ingest paths (issue #10 items 1, 2 and 4), through the real API.

An officer tries to plant video in a street camera's timeline, to erase their own
footage by backdating it, or to keep it forever by post-dating it; a device with a
broken clock writes ``creation_time 9999-12-31``. Each must be refused with a clear
4xx naming what was wrong, audited when it is a permission refusal, and leave nothing
behind (no catalog row, no stored object, no stuck upload).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from sqlalchemy import select

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from retention.plugin import get as get_retention
from tests.conftest import make_config
from tests.media import make_video
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import AuditEntry, MediaItem
from vms.errors import InvalidArgument
from vms.media.probe import probe
from vms.services import Services
from web.contract import parse_model
from web.schemas.cameras import NewCameraIn

SIM_USER = "admin"
SIM_PASSWORD = "pw-abuse-test"
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera(
        "abuse-sim", size=(320, 180), fps=5, username=SIM_USER, password=SIM_PASSWORD
    )
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


@pytest.fixture
def settings() -> dict[str, object]:
    return {}


@pytest.fixture
def services(
    database: tuple[str, Any], clock: ManualClock, settings: dict[str, object]
) -> Iterator[Services]:
    """Services on the manual clock (so a purge can be run 'later'), every plugin."""
    url, data_dir = database
    svc = Services.open(make_config(data_dir, url, **settings), clock=clock)
    svc.migrate()
    try:
        yield svc
    finally:
        get_control(svc).close()
        svc.close()


def auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def upload(
    client: Any, tokens: dict[str, str], user: str, data: bytes, **fields: object
) -> tuple[Any, Any]:
    """Create, send and complete an upload; returns (create response, last response)."""
    body: dict[str, object] = {
        "filename": "shift.mp4",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    body.update(fields)
    created = client.post("/api/v1/uploads", json=body, headers=auth(tokens, user))
    if created.status_code != 201:
        return created, created
    upload_id = created.json["id"]
    put = client.put(
        f"/api/v1/uploads/{upload_id}",
        data=data,
        headers={**auth(tokens, user), "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert put.status_code == 200, put.json
    done = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(tokens, user))
    return created, done


def denials(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.outcome == "denied")
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def nothing_stored(services: Services) -> bool:
    with services.db.session() as s:
        rows = s.execute(select(MediaItem.id)).first()
    return rows is None and list(services.store.iter_objects()) == []


# -- #10.1 planted footage ----------------------------------------------------------------


def test_officer_cannot_plant_footage_in_a_camera_timeline(
    services: Services,
    client: Any,
    tokens: dict[str, str],
    actors: dict[str, Actor],
    sim: SimulatedCamera,
) -> None:
    """#10.1 (critical): an upload with source fixed and a registered camera's id was
    accepted and GET /cameras/{id}/recording?at= served it as that camera's footage."""
    camera = get_control(services).cameras.add(
        actors["admin"],
        parse_model(
            NewCameraIn,
            {
                "name": "street-1",
                "onvif_url": sim.onvif_url,
                "username": SIM_USER,
                "password": SIM_PASSWORD,
                "calibration": calibration_from_simulator(sim.state()["calibration"]).to_dict(),
            },
        ).command(),
    )
    at = services.clock.now() - dt.timedelta(minutes=30)
    data = make_video(seconds=1)
    for fields, reason in (
        ({"source": "fixed", "device_id": camera.id}, "registered fixed camera"),
        ({"source": "bwc", "device_id": camera.id}, "registered fixed camera"),
        ({"source": "fixed", "device_id": "BWC-0042"}, "only the recorder"),
    ):
        created, _ = upload(client, tokens, "officer", data, recorded_at=at.isoformat(), **fields)
        assert created.status_code == 403, created.json
        assert reason in created.json["error"]["message"]
    recording = client.get(
        f"/api/v1/cameras/{camera.id}/recording?at={at.isoformat().replace('+00:00', 'Z')}"
        "&purpose=investigation",
        headers=auth(tokens, "admin"),
    )
    assert recording.status_code == 404  # no planted item in the camera's timeline
    assert nothing_stored(services)
    refused = denials(services, "upload.create")
    assert [e.actor for e in refused] == ["officer"] * 3
    assert [e.target for e in refused] == [f"device:{camera.id}"] * 2 + ["device:BWC-0042"]
    assert all(e.details["reason"] for e in refused)


@pytest.mark.parametrize("settings", [{"VMS_INGEST_DEVICE_ASSIGNMENT": "true"}])
def test_with_device_assignment_only_the_assigned_officer_uploads_as_a_device(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """#10.1: BWC-to-officer. An admin assigns devices (audited); an officer may upload
    only as a device assigned to them; refusals are 403 with the reason, audited."""
    data = make_video(seconds=1)
    created, _ = upload(client, tokens, "officer", data)
    assert created.status_code == 403
    assert "assigned to no officer" in created.json["error"]["message"]

    # Only an admin assigns (the refusal is audited).
    denied = client.put("/api/v1/devices/BWC-0042/officers/B1", headers=auth(tokens, "officer"))
    assert denied.status_code == 403
    assert [e.actor for e in denials(services, "devices.manage")] == ["officer"]
    assigned = client.put("/api/v1/devices/BWC-0042/officers/B1", headers=auth(tokens, "admin"))
    assert assigned.status_code == 200, assigned.json
    assert assigned.json["officers"] == ["B1"] and assigned.json["kind"] == "bwc"
    listing = client.get("/api/v1/devices", headers=auth(tokens, "admin")).json
    assert listing["assignment_enforced"] is True
    assert {"id": "BWC-0042", "officers": ["B1"]}.items() <= listing["devices"][0].items()

    created, _ = upload(client, tokens, "other_officer", data)
    assert created.status_code == 403
    assert "not assigned to officer 'B2'" in created.json["error"]["message"]
    created, done = upload(client, tokens, "officer", data)
    assert created.status_code == 201 and done.status_code == 200, done.json
    assert done.json["media"]["officer_badge"] == "B1"

    gone = client.delete("/api/v1/devices/BWC-0042/officers/B1", headers=auth(tokens, "admin"))
    assert gone.status_code == 200 and gone.json["officers"] == []
    created, _ = upload(client, tokens, "officer", make_video(seconds=1, seed=3))
    assert created.status_code == 403
    with services.db.session() as s:
        changes = s.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.target)
            .where(AuditEntry.action.like("device.%"))
            .order_by(AuditEntry.seq)
        ).all()
    assert changes == [
        ("device.assign", "admin", "device:BWC-0042"),
        ("device.unassign", "admin", "device:BWC-0042"),
    ]
    assert len(denials(services, "upload.create")) == 3


@pytest.mark.parametrize("settings", [{"VMS_INGEST_DEVICE_ASSIGNMENT": "true"}])
def test_the_officer_taken_from_an_assignment_is_still_scope_checked_ACC_8(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """A device assigned to one officer names that officer when the upload names none;
    a supervisor may not use that to upload for an officer they do not supervise."""
    for device, badge in (("BWC-0042", "B2"), ("BWC-0043", "B1")):
        r = client.put(f"/api/v1/devices/{device}/officers/{badge}", headers=auth(tokens, "admin"))
        assert r.status_code == 200
    created, _ = upload(client, tokens, "sergeant", make_video(seconds=1))
    assert created.status_code == 403
    assert "officers they supervise (ACC-8)" in created.json["error"]["message"]
    _, done = upload(client, tokens, "sergeant", make_video(seconds=1), device_id="BWC-0043")
    assert done.status_code == 200, done.json
    assert done.json["media"]["officer_badge"] == "B1"  # the sergeant's officer


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "fixed"}, "kind: 'fixed' must be one of 'bwc', 'dash' or 'handheld'"),
        ({"kind": 7}, "kind: 7 must be one of"),
        ({"officer": "B2"}, "officer is not a field of this request"),
        ([], "must be a JSON object"),
    ],
)
def test_device_assignment_refuses_bad_input_with_the_reason(
    services: Services, client: Any, tokens: dict[str, str], body: object, words: str
) -> None:
    r = client.put("/api/v1/devices/BWC-1/officers/B1", json=body, headers=auth(tokens, "admin"))
    assert r.status_code == 400 and words in r.json["error"]["message"]
    r = client.put("/api/v1/devices/BWC-1/officers/%01", headers=auth(tokens, "admin"))
    assert r.status_code == 400 and "officer_badge" in r.json["error"]["message"]
    r = client.delete("/api/v1/devices/BWC-1/officers/B1", headers=auth(tokens, "admin"))
    assert r.status_code == 404


def test_registered_camera_cannot_be_issued_to_an_officer(
    services: Services,
    client: Any,
    tokens: dict[str, str],
    actors: dict[str, Actor],
    sim: SimulatedCamera,
) -> None:
    camera = get_control(services).cameras.add(
        actors["admin"],
        parse_model(
            NewCameraIn,
            {
                "name": "street-2",
                "onvif_url": sim.onvif_url,
                "username": SIM_USER,
                "password": SIM_PASSWORD,
            },
        ).command(),
    )
    r = client.put(f"/api/v1/devices/{camera.id}/officers/B1", headers=auth(tokens, "admin"))
    assert r.status_code == 409 and "registered fixed camera" in r.json["error"]["message"]


# -- #10.2 backdating and post-dating -------------------------------------------------


@pytest.mark.parametrize(
    ("recorded_at", "words"),
    [
        ("2000-01-01T00:00:00Z", "implausibly old"),
        ("2099-01-01T00:00:00Z", "in the future"),
        ("9999-12-31T23:59:59-14:00", "is outside 1970-01-01T00:00:00Z .. 2200"),
        ("0001-01-01T00:00:00+14:00", "is outside 1970-01-01T00:00:00Z .. 2200"),
    ],
)
def test_backdated_or_postdated_upload_is_refused_with_the_reason_RET_4(
    services: Services, client: Any, tokens: dict[str, str], recorded_at: str, words: str
) -> None:
    """#10.2: recorded_at 2000-01-01 gave an expiry in 2000 (the next purge deleted the
    officer's footage); a far-future date kept it forever; the extremes gave 500."""
    created, _ = upload(client, tokens, "officer", make_video(seconds=1), recorded_at=recorded_at)
    assert created.status_code == 400, created.json
    assert words in created.json["error"]["message"]
    assert nothing_stored(services)


def test_backdated_upload_outlives_the_purge_and_shows_both_times_RET_4_RET_13(
    services: Services, client: Any, tokens: dict[str, str], clock: ManualClock
) -> None:
    """#10.2: an upload recorded 80 days before its ingest is kept 90 days from the
    ingest, not 10; the item shows both times (API and media page)."""
    recorded = clock.now() - 80 * DAY
    _, done = upload(
        client, tokens, "officer", make_video(seconds=1), recorded_at=recorded.isoformat()
    )
    assert done.status_code == 200, done.json
    media_id = done.json["media"]["id"]
    detail = client.get(f"/api/v1/media/{media_id}", headers=auth(tokens, "officer")).json
    assert detail["recorded_start"] == recorded.isoformat().replace("+00:00", "Z")
    assert detail["ingested_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert detail["expires_at"] == (clock.now() + 90 * DAY).isoformat().replace("+00:00", "Z")
    assert detail["retention_rule"] == "RET-4 bwc 90 days"
    page = client.get(f"/media/{media_id}", headers=auth(tokens, "officer"))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert recorded.strftime("%Y-%m-%d") in text and clock.now().strftime("%Y-%m-%d") in text

    clock.advance(30 * DAY)
    get_retention(services).purger.run()
    with services.db.session() as s:
        assert s.get(MediaItem, media_id) is not None


# -- #10.4 a container date past the end of the calendar ------------------------------


def test_upload_with_creation_time_9999_gets_a_4xx_and_is_not_stuck(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """#10.4: the same file through the upload API gave a 500 and a stuck upload."""
    data = make_video(
        seconds=1,
        creation_time=dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
        container_format="nut",
    )
    created, done = upload(client, tokens, "officer", data, filename="clock.nut")
    assert created.status_code == 201
    assert done.status_code == 400, done.json
    assert "creation_time 9999-12-31T00:00:00Z" in done.json["error"]["message"]
    upload_id = created.json["id"]
    status = client.get(f"/api/v1/uploads/{upload_id}", headers=auth(tokens, "officer")).json
    assert status["state"] == "failed" and "creation_time" in status["error"]
    again = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth(tokens, "officer"))
    assert again.status_code == 409  # a clear answer, not another 500
    assert nothing_stored(services)
    # No upload bytes left behind (the reservation lock file of #10.9 stays).
    assert list((services.config.data_dir / "uploads").glob("*.part")) == []


def _tagged_creation_time(text: str) -> bytes:
    """A short H.264 MP4 whose free-form metadata (an ``mdta`` key, which FFmpeg reads
    back as written) says ``creation_time`` is ``text``."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4", options={"movflags": "use_metadata_tags"}) as c:
        c.metadata["creation_time"] = text
        stream = c.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        black = np.zeros((120, 160, 3), np.uint8)
        for _ in range(8):
            c.mux(stream.encode(av.VideoFrame.from_ndarray(black, format="rgb24")))
        c.mux(stream.encode(None))
    return out.getvalue()


def test_upload_whose_creation_time_is_past_the_calendar_in_utc_is_no_500_INV_7(
    services: Services, client: Any, tokens: dict[str, str], clock: ManualClock
) -> None:
    """#10.4 again: ``9999-12-31T23:59:59-14:00`` parses, but is in year 10000 in UTC:
    the probe's conversion raised OverflowError, a 500 and a stuck upload. Such a tag is
    treated like one that does not parse: the recorded start is the ingest time, and
    the item says so (``recorded_start_origin``)."""
    text = "9999-12-31T23:59:59-14:00"
    data = _tagged_creation_time(text)
    with av.open(io.BytesIO(data)) as c:
        assert c.metadata["creation_time"] == text  # what the probe is given
    created, done = upload(client, tokens, "officer", data, filename="tagged.mp4")
    assert created.status_code == 201
    assert done.status_code in (200, 201), done.get_data(as_text=True)[:300]
    media_id = done.json["media"]["id"]
    detail = client.get(f"/api/v1/media/{media_id}", headers=auth(tokens, "officer")).json
    assert detail["recorded_start"] == clock.now().isoformat().replace("+00:00", "Z")
    assert detail["recorded_start_origin"] == "ingest"


def _spanning(seconds: float) -> bytes:
    """A one-second H.264 Matroska file whose last packet is stamped ``seconds`` later:
    the container says it lasts that long, and every packet is readable."""
    source = av.open(io.BytesIO(make_video(seconds=1)), "r")
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, "w", format="matroska")
    video = source.streams.video[0]
    stream = out.add_stream_from_template(video)
    packets = [p for p in source.demux(video) if p.size]
    assert video.time_base is not None
    shift = int(seconds / video.time_base)
    for packet in packets:
        if packet is packets[-1]:
            assert packet.pts is not None and packet.dts is not None
            packet.pts += shift
            packet.dts += shift
        packet.stream = stream
        out.mux(packet)
    out.close()
    source.close()
    return out_buffer.getvalue()


def test_upload_lasting_31_000_years_gets_a_4xx_and_is_not_stuck(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """#10.2, #10.4: a container whose packets span 10^12 s (its last packet stamped
    31,700 years after the first) passed the probe, and its recorded end (start plus
    that) overflowed the calendar in the catalogue step: a 500, the upload left
    receiving, every repeat another 500. It is refused with the reason; nothing stored."""
    data = _spanning(1e12)
    created, done = upload(client, tokens, "officer", data, filename="forever.mkv")
    assert created.status_code == 201
    assert done.status_code == 400, done.json
    assert "recorded end" in done.json["error"]["message"]
    status = client.get(f"/api/v1/uploads/{created.json['id']}", headers=auth(tokens, "officer"))
    assert status.json["state"] == "failed"
    assert nothing_stored(services)


def test_upload_ending_years_from_now_is_refused_with_the_reason_RET_4(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """#10.2: a file recorded now that says it lasts ten years would be catalogued as
    footage to come (a recorded end in 2036, kept and listed as such); a person's file
    ends by the plausible window like its start."""
    data = _spanning(10 * 365 * 86400.0)
    _created, done = upload(client, tokens, "officer", data, filename="decade.mkv")
    assert done.status_code == 400, done.json
    assert "recorded end" in done.json["error"]["message"]
    assert "in the future" in done.json["error"]["message"]
    assert nothing_stored(services)


# -- resource bombs at probe time ---------------------------------------------------------


def _mjpeg_claiming(width: int, height: int, *, pix_fmt: str, bits: int = 8) -> bytes:
    """A Matroska MJPEG file of one 16x16 frame whose JPEG header says ``width`` x
    ``height`` (and ``bits`` of precision), padded to the 2 bits a block FFmpeg asks of
    a packet before it believes the size: about 1 MiB for 16200 x 16200."""
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, "w", format="matroska")
    stream = out.add_stream("mjpeg", rate=5)
    stream.width, stream.height, stream.pix_fmt = 16, 16, pix_fmt
    image = np.full((16, 16, 3), 100, np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    frame.pts = 0
    for packet in [*stream.encode(frame), *stream.encode()]:
        data = bytearray(bytes(packet))
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        if bits != 8:
            data[sof + 1], data[sof + 4] = 0xC1, bits  # extended sequential DCT
        pad = width * height // 256 + 4096
        claimed = av.Packet(bytes(data) + bytes(pad))
        claimed.pts = claimed.dts = packet.pts
        claimed.stream = stream
        out.mux(claimed)
    out.close()
    return out_buffer.getvalue()


def _mp4_claiming_samples(count: int) -> bytes:
    """A one-second H.264 MP4 (100 KiB) whose sample table says it has ``count`` samples
    of one byte each, all in its chunks."""
    data = bytearray(make_video(seconds=1))
    stsz = data.index(b"stsz")
    data[stsz + 8 : stsz + 16] = struct.pack(">II", 1, count)  # the old table is skipped
    stsc = data.index(b"stsc")
    (entries,) = struct.unpack(">I", data[stsc + 8 : stsc + 12])
    for i in range(entries):
        at = stsc + 12 + 12 * i + 4  # samples per chunk
        data[at : at + 4] = struct.pack(">I", count)
    return bytes(data)


def test_upload_claiming_a_huge_frame_is_refused_before_decoding(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """A 1 MiB MJPEG file whose JPEG header says 16200 x 16200 was catalogued, its
    probe having decoded a 394 MiB frame (1.6 GiB at 4:4:4, 12 bits). It is a 400 naming
    the size; nothing stored."""
    data = _mjpeg_claiming(16200, 16200, pix_fmt="yuvj420p")
    assert len(data) < 2 * 1024**2
    created, done = upload(client, tokens, "officer", data, filename="huge.mkv")
    assert created.status_code == 201
    assert done.status_code == 400, done.json
    assert "16200x16200" in done.json["error"]["message"]
    assert nothing_stored(services)


_PROBE_IN_A_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    cap = 2 * 1024**3  # never the machine's memory, whatever the probe does
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from vms.errors import InvalidArgument
    from vms.media.probe import probe
    try:
        outcome = repr(probe(Path(sys.argv[1])))
    except InvalidArgument as exc:
        outcome = exc.message
    # This process's peak (getrusage would count the parent's pages at the fork).
    status = Path("/proc/self/status").read_text().splitlines()
    peak = int(next(s.split()[1] for s in status if s.startswith("VmHWM:"))) * 1024
    print(json.dumps({"outcome": outcome, "peak": peak}))
    """
)


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        (
            "frame.mkv",
            lambda: _mjpeg_claiming(16200, 16200, pix_fmt="yuvj444p", bits=12),
            "frames are 16200x16200 (262440000 pixels), more than the 35389440 accepted",
        ),
        (
            "index.mp4",
            lambda: _mp4_claiming_samples(40_000_000),
            "the MP4 index claims 40000000 samples of 1 bytes",
        ),
    ],
)
def test_probe_of_a_small_hostile_file_stays_in_bounded_memory(
    tmp_path: Path, name: str, make: Any, words: str
) -> None:
    """Measured in a child process (capped at 2 GiB): a 1 MiB MJPEG file claiming a
    16200 x 16200 12-bit 4:4:4 frame took 1.6 GiB to probe, and a 105 KiB MP4 claiming
    40 million samples took 1.7 GiB to open (FFmpeg's index, 24 bytes a sample). Both
    are refused with the reason, in a few MiB more than the interpreter's."""
    path = tmp_path / name
    path.write_bytes(make())
    done = subprocess.run(
        [sys.executable, "-c", _PROBE_IN_A_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    result = json.loads(done.stdout)
    assert result["peak"] < 512 * 1024**2, result
    assert words in result["outcome"]


def _h264_without_keyframe(packets: int) -> bytes:
    """A Matroska file of ``packets`` copies of one 4K H.264 P-frame (26 bytes) and no
    keyframe: no frame ever comes out of the decoder."""
    out_buffer = io.BytesIO()
    out = av.open(out_buffer, "w", format="matroska")
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
    stream.options = {"preset": "ultrafast", "keyint": "1000"}
    black = np.zeros((2160, 3840, 3), np.uint8)
    encoded = []
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(black, format="rgb24")
        frame.pts = i
        encoded += stream.encode(frame)
    encoded += stream.encode()
    body = bytes(next(p for p in encoded if not p.is_keyframe))
    for i in range(packets):
        packet = av.Packet(body)
        packet.pts = packet.dts = i
        packet.stream = stream
        out.mux(packet)
    out.close()
    return out_buffer.getvalue()


def test_probe_decodes_a_bounded_number_of_packets_before_the_first_frame(
    tmp_path: Path,
) -> None:
    """Every packet was decoded until a frame came out: a 97 KiB file of 3,000 4K
    P-frames with no keyframe took 12.6 s of CPU to be refused as holding no frames
    (minutes for a few MiB). The probe gives up after 3,000 1080p frames' worth."""
    path = tmp_path / "nokey.mkv"
    path.write_bytes(_h264_without_keyframe(3000))
    assert path.stat().st_size < 128 * 1024
    with pytest.raises(InvalidArgument, match=r"no video frame decodes from its first 751 packets"):
        probe(path)
