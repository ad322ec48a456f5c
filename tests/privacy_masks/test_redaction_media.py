"""Redaction of odd but valid videos (REL-3, INV-5's spirit for releases): what the
reviewer draws on the picture as the page shows it must cover those very pixels in the
released copy, on every frame. A phone video held upright is stored sideways with a
display matrix; the page plays it turned (the browser honours the matrix), so the boxes
are drawn on the turned picture (docs/design/redaction.md, "The review page")."""

from __future__ import annotations

import io
import json
import math
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction, RedactionService
from privacy_masks.redaction_job import drawn_steps
from tests.media import displayed_frames, encode_pictures, make_recording, make_wrapping_ts
from tests.privacy_masks.redaction_media import audio_of
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import MediaItem, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

FPS = 15
FRAMES = 12
RED = (0, 0, 255)  # BGR: the "face", the only red thing in the picture


def red_pixels(img: np.ndarray) -> int:
    b, g, r = (img[:, :, i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 90) & (b < 90)).sum())


def face_box(f: int) -> tuple[int, int, int, int]:
    """The face's box (x, y, w, h) on frame ``f`` of the picture as shown: it moves."""
    return 24 + 2 * f, 40 + 4 * f, 40, 48


def pictures(width: int, height: int, frames: int = FRAMES) -> list[np.ndarray]:
    out = []
    for f in range(frames):
        img = np.full((height, width, 3), 96, np.uint8)
        img[:, : width // 3] = (40, 120, 40)  # not symmetric: a turn shows
        x, y, w, h = face_box(f)
        img[y : y + h, x : x + w] = RED
        out.append(img)
    return out


def ingest(services: Services, data: bytes) -> str:
    return services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(
            source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", original_filename="p.mp4"
        ),
        Who("setup", "admin"),
    ).media_id


def render(services: Services, commander: Actor, job_id: str) -> Path:
    """Render the job under review; the released file."""
    service = services.ports.get(RedactionService)
    service.render(commander, job_id)
    assert service.run_pending() == 1
    done = service.get(commander, job_id)
    assert done.state == "done" and done.rendered_media_id, done.error
    with services.db.session() as s:
        item = s.get(MediaItem, done.rendered_media_id)
        assert item is not None
        return services.store.path_for(item.sha256)


def redact_drawn(
    services: Services,
    commander: Actor,
    media_id: str,
    shown: tuple[int, int],
    frames: int = FRAMES,
    stretch: tuple[float, float] = (1.0, 1.0),
) -> Path:
    """Run a job as the review page does: a box drawn over the face on the first and the
    last frame of the picture as shown (``shown``: its width and height), in the
    canvas's pixels (the canvas is the job's ``video.width`` x ``video.height``, laid
    over the shown picture), rendered solid. ``stretch``: how much wider and higher the
    face is shown than :func:`face_box` says (non-square pixels). Returns the rendered
    file."""
    service = services.ports.get(RedactionService)
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review" and review.video is not None, review.error
    sx = stretch[0] * review.video.width / shown[0]
    sy = stretch[1] * review.video.height / shown[1]
    keys = []
    for f in sorted({0, frames - 1}):
        x, y, w, h = face_box(f)
        keys.append((round(f / review.video.fps, 4), x * sx, y * sy, w * sx, h * sy))
    service.edit(commander, job.id, EditRedaction(add=(ManualTrack("face", tuple(keys)),)))
    service.render(commander, job.id)
    assert service.run_pending() == 1
    done = service.get(commander, job.id)
    assert done.state == "done" and done.rendered_media_id, done.error
    with services.db.session() as s:
        item = s.get(MediaItem, done.rendered_media_id)
        assert item is not None
        return services.store.path_for(item.sha256)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_box_drawn_on_a_turned_phone_video_covers_the_face_REL_3(
    services: Services, actors: dict[str, Actor], rotation: int
) -> None:
    """A portrait phone video (180x320 as shown, stored 320x180 with a display matrix):
    the box drawn on the shown picture covers the face on every frame of the released
    copy as a player shows it, and the copy shows upright as the original did."""
    shown = (180, 320)
    original = encode_pictures(pictures(*shown), fps=FPS, rotation=rotation)
    media_id = ingest(services, original)
    with services.db.session() as s:
        stored = services.store.path_for(s.get(MediaItem, media_id).sha256)  # type: ignore[union-attr]
    # The file is what it claims: a player shows the face where it was drawn.
    seen = displayed_frames(stored)
    assert seen[0].shape[:2] == (shown[1], shown[0])
    assert red_pixels(seen[0]) >= 40 * 48 * 0.9
    rendered = redact_drawn(services, actors["commander"], media_id, shown)
    released = displayed_frames(rendered)
    assert len(released) == FRAMES
    left = [red_pixels(img) for img in released]
    assert left == [0] * FRAMES, f"face pixels left per frame in the release: {left}"
    assert released[0].shape[:2] == (shown[1], shown[0])


# Valid videos a camera or an editor may hand in, each redacted as drawn. (odd size: VP9
# codes it exactly; libx264 at 4:2:0 cannot encode it.)
ODD = {
    "odd-size-641x361": (
        {"codec": "libvpx-vp9", "options": {"deadline": "realtime", "crf": "10", "b": "0"}},
        (641, 361),
        FRAMES,
    ),
    "b-frames": ({"options": {"preset": "medium", "bf": "3", "crf": "12"}}, (320, 180), FRAMES),
    "h265": (
        {"codec": "libx265", "options": {"preset": "ultrafast", "crf": "12"}},
        (320, 180),
        FRAMES,
    ),
    "start-at-1000-s": ({"pts": range(15000, 15000 + FRAMES)}, (320, 180), FRAMES),
    "one-frame": ({}, (320, 180), 1),
    # 6 frames at 15 fps, then 6 at 5 fps (a phone in the dark): the encoder's clock
    # must be the source's, not the average rate's (9 fps) coarser ticks.
    "variable-frame-rate": (
        {"pts": [i if i < 6 else 6 + (i - 6) * 3 for i in range(FRAMES)]},
        (320, 180),
        FRAMES,
    ),
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_a_box_drawn_on_an_odd_video_covers_the_face_REL_3(
    services: Services, actors: dict[str, Actor], case: str
) -> None:
    """Odd but valid videos go through the redaction job: the box drawn over the face
    covers it on every frame of the released copy, none lost, the picture kept whole."""
    options, shown, frames = ODD[case]
    original = encode_pictures(pictures(*shown, frames), fps=FPS, **options)  # type: ignore[arg-type]
    media_id = ingest(services, original)
    rendered = redact_drawn(services, actors["commander"], media_id, shown, frames)
    released = displayed_frames(rendered)
    assert len(released) == frames
    left = [red_pixels(img) for img in released]
    assert left == [0] * frames, f"face pixels left per frame in the release: {left}"
    height, width = released[0].shape[:2]
    assert width >= shown[0] and height >= shown[1], (width, height)


_FFPROBE = ("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries")
_ASPECTS = "stream=sample_aspect_ratio,display_aspect_ratio"


def aspect(path: Path) -> tuple[str, str]:
    """``path``'s video sample and display aspect ratios as ``ffprobe`` reads them."""
    out = subprocess.run(
        [*_FFPROBE, _ASPECTS, "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    return stream.get("sample_aspect_ratio", "1:1"), stream.get("display_aspect_ratio", "")


@pytest.mark.parametrize("rotation", [0, 90])
def test_the_release_keeps_the_pictures_shape_non_square_pixels_REL_3(
    services: Services, actors: dict[str, Actor], rotation: int
) -> None:
    """A camera with non-square pixels (320x180 stored, pixels 4:3 as wide as high: shown
    427x180) is shown by the page with its pixels stretched, the canvas stretched with
    them, so the box still lands on the face; and the released copy keeps the pixels'
    shape (turned with the picture), or every person in it is shown squeezed."""
    coded = (320, 180)
    sar = Fraction(4, 3)
    turned = rotation // 90 % 2 == 1
    shown = (coded[1], coded[0]) if turned else coded
    original = encode_pictures(pictures(*shown), fps=FPS, rotation=rotation, sar=sar)
    media_id = ingest(services, original)
    with services.db.session() as s:
        stored = services.store.path_for(s.get(MediaItem, media_id).sha256)  # type: ignore[union-attr]
    assert aspect(stored)[0] == "4:3"
    # The shown picture's width and height: the stored pixels stretched, then turned.
    wide = (round(coded[0] * sar), coded[1])
    factor = float(sar)
    rendered = redact_drawn(
        services,
        actors["commander"],
        media_id,
        (wide[1], wide[0]) if turned else wide,
        stretch=(1.0, factor) if turned else (factor, 1.0),
    )
    released = displayed_frames(rendered)
    left = [red_pixels(img) for img in released]
    assert left == [0] * FRAMES, f"face pixels left per frame in the release: {left}"
    expected = ("3:4", "27:64") if turned else ("4:3", "64:27")
    assert aspect(rendered) == expected


def frame_times(path: Path) -> list[float]:
    """Each frame's presentation time from the first, as ``ffprobe`` reads them."""
    out = subprocess.run(
        [*_FFPROBE, "frame=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout
    times = [float(line.strip(",")) for line in out.split()]
    return [t - times[0] for t in times]


def moving_face(t: float) -> tuple[int, int, int, int]:
    """The face at ``t`` seconds: crossing at 100 px/s for 1.2 s, then at 50 px/s to
    the end (the last frames too)."""
    return 20 + round(100 * min(t, 1.2) + 50 * max(0.0, t - 1.2)), 60, 40, 48


def test_a_box_drawn_on_a_variable_frame_rate_video_covers_the_face_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A phone lowers its frame rate in the dark: 15 frames at 15 fps, then 15 at 5 fps.
    The page steps through the video by the job's frame rate (the average, 7.76 fps) and
    the player shows the frame playing at that instant; a reviewer keys the box over the
    face on every step. The released copy has the face covered on every frame, those
    the page showed and those it stepped over, up to the last: the page's steps must
    reach the last frame's time (at ``(frames - 1) / average fps`` the last step showed
    the frame before, and the render held that step's box on the last frame, the face
    moving out of it)."""
    pts = [i if i < 15 else 15 + (i - 15) * 3 for i in range(30)]
    times = [p / FPS for p in pts]
    pictures = []
    for t in times:
        img = np.full((180, 320, 3), 96, np.uint8)
        x, y, w, h = moving_face(t)
        img[y : y + h, x : x + w] = RED
        pictures.append(img)
    original = encode_pictures(pictures, fps=FPS, pts=pts)
    media_id = ingest(services, original)
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review" and review.video is not None, review.error
    with services.db.session() as s:
        stored = services.store.path_for(s.get(MediaItem, media_id).sha256)  # type: ignore[union-attr]
    shown_at = frame_times(stored)
    assert len(shown_at) == 30 and abs(shown_at[20] - times[20]) < 1e-3
    # The page (web/static/redaction.js): step n is at n / fps; the player shows the
    # last frame starting at or before it; the reviewer keys the face seen there.
    fps, steps = review.video.fps, review.video.frames
    keys = []
    for n in range(steps):
        at = math.ceil(n / fps * 10000 - 1e-6) / 10000  # the page's timeOf
        seen = max(k for k, t in enumerate(shown_at) if t <= at + 1e-6)
        x, y, w, h = moving_face(shown_at[seen])
        keys.append((at, float(x), float(y), float(w), float(h)))
    service.edit(commander, job.id, EditRedaction(add=(ManualTrack("face", tuple(keys)),)))
    rendered = render(services, commander, job.id)
    released = displayed_frames(rendered)
    assert len(released) == 30
    left = [red_pixels(img) for img in released]
    assert left == [0] * 30, f"face pixels left per frame in the release: {left}"
    assert frame_times(rendered) == pytest.approx(shown_at, abs=2e-3)


def test_drawn_steps_are_the_frames_at_a_constant_rate() -> None:
    """At a constant rate the page's step n is frame n, nothing joined; a frame between
    two steps takes both (pure)."""
    for fps in (15.0, 25.0, 29.97, 30000 / 1001):
        for n in range(0, 2000, 7):
            assert drawn_steps(n / fps, (n + 1) / fps, fps) == range(n, n + 1)
    # 7.76 fps of steps, a frame shown 0.333..0.4 s: step 2 (0.258 s) showed an earlier
    # frame, step 3 (0.387 s) shows this one.
    assert drawn_steps(1 / 3, 0.4, 225 / 29) == range(2, 4)


_CSV = ("-of", "csv=p=0")


def start_times(path: Path) -> dict[str, float]:
    """Each stream's start (``ffprobe``), by its type."""
    out = subprocess.run(
        [*_FFPROBE[:-3], "-show_entries", "stream=codec_type,start_time", *_CSV, str(path)],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout
    return {kind: float(at) for kind, at in (line.split(",") for line in out.split())}


def test_the_sound_stays_with_the_picture_and_the_muted_words_are_silent_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A microphone that starts 1 s after the picture (3 s of video, 2 s of tone from
    1 s on), a range muted at 1.5..2.0 s of the video (docs/design/redaction.md: audio
    ranges in seconds from the video's start): in the released copy the sound still
    starts 1 s after the picture, silent over the muted range and the tone elsewhere."""
    data = make_recording(
        video_seconds=3.0, audio_seconds=2.0, container_format="mp4", audio_start=1.0
    )
    media_id = ingest(services, data)
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(
        commander, NewRedaction(media_id, ("faces",), "solid", audio_mute=((1.5, 2.0),))
    )
    assert service.run_pending() == 1
    rendered = render(services, commander, job.id)
    starts = start_times(rendered)
    lag = starts["audio"] - starts["video"]
    assert abs(lag - 1.0) < 0.05, f"the sound starts {lag:.3f} s after the picture, not 1 s"
    samples, rate = audio_of(rendered)

    def at(seconds: float) -> int:  # a sample index from the video's start
        return round((seconds - lag) * rate)

    assert np.abs(samples[at(1.55) : at(1.95)]).max() == 0.0
    assert np.abs(samples[at(1.1) : at(1.45)]).max() > 0.1
    assert np.abs(samples[at(2.1) : at(2.8)]).max() > 0.1


# The media path only (the job's rows are the other tests'): one backend, not two.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("seconds", "before_wrap"), [(6, 30), (6, 2), (63, 61)])
def test_a_dash_cameras_ts_near_the_timestamp_wrap_is_redacted_whole_REL_3(
    services: Services, actors: dict[str, Actor], tmp_path: Path, seconds: int, before_wrap: int
) -> None:
    """A dash camera's MPEG-TS whose clock starts 30 s, 2 s or 61 s before the 33-bit
    wrap (tests/vms/test_ingest.py; FFmpeg unwraps its times, to below 0 within 60 s of
    it): the release holds every frame, as long, the range 1.0..2.0 s muted and the
    tone elsewhere. A guard: it passed when written (the render times frames and sound
    from the first frame's and sound's own times)."""
    original = tmp_path / "dash.ts"
    original.write_bytes(make_wrapping_ts(seconds=seconds, before_wrap=before_wrap))
    media_id = ingest(services, original.read_bytes())
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(
        commander, NewRedaction(media_id, ("faces",), "solid", audio_mute=((1.0, 2.0),))
    )
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.video is not None and review.video.frames == seconds * 15, review.error
    rendered = render(services, commander, job.id)
    times = frame_times(rendered)
    assert len(times) == seconds * 15
    assert times[-1] - times[0] == pytest.approx(seconds - 1 / 15, abs=2e-3)
    starts = start_times(rendered)
    lag = starts["audio"] - starts["video"]
    samples, rate = audio_of(rendered)

    def at(t: float) -> int:  # a sample index from the video's start
        return round((t - lag) * rate)

    assert np.abs(samples[at(1.05) : at(1.95)]).max() == 0.0
    assert np.abs(samples[at(0.2) : at(0.9)]).max() > 0.1
    assert np.abs(samples[at(2.1) : at(seconds - 0.2)]).max() > 0.1


def covered(true: tuple[float, float, float, float], row: tuple[float, ...]) -> float:
    """The share of the ``true`` box (x, y, w, h) inside the row's box."""
    x, y, w, h = true
    rx, ry, rw, rh = row
    ix = min(x + w, rx + rw) - max(x, rx)
    iy = min(y + h, ry + rh) - max(y, ry)
    return max(0.0, ix) * max(0.0, iy) / (w * h)


def test_detected_faces_are_timed_at_their_frames_on_a_variable_frame_rate_video_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A phone lowers its frame rate in the dark (15 frames at 15 fps, then 15 at 5 fps)
    while a face crosses the picture. The detector finds it on every frame; each
    detected row ``[t, x, y, w, h]`` is shown by the review page at ``t`` over the frame
    the player shows then, so ``t`` must be that frame's presentation time: the row's box
    lies over the face seen at ``t``. Rows at ``index / average fps`` put the box on a
    frame shown up to a second away, where the face is elsewhere: a reviewer would switch
    off a real face track as a false alarm."""
    from privacy_masks.detection.model import ObjectClass
    from tests.privacy_masks.scenes import SceneObject, background, signature_pixels

    face = SceneObject(ObjectClass.FACE, (60, 90), (3.0, 0.0), 32, (150, 185, 225))
    pts = [i if i < 15 else 15 + (i - 15) * 3 for i in range(30)]
    pictures = []
    for p in pts:
        img = background(320, 180)
        face.draw(img, p)
        pictures.append(img)
    media_id = ingest(services, encode_pictures(pictures, fps=FPS, pts=pts))
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review" and review.video is not None, review.error
    with services.db.session() as s:
        stored = services.store.path_for(s.get(MediaItem, media_id).sha256)  # type: ignore[union-attr]
    shown_at = frame_times(stored)
    faces = [t for t in review.tracks if t.cls == "face"]
    assert len(faces) == 1, [(t.id, len(t.frames)) for t in review.tracks]
    rows = faces[0].frames
    assert len(rows) == 30, len(rows)
    off = []
    for t, *box in rows:
        seen = max(k for k, at in enumerate(shown_at) if at <= t + 1e-3)
        b = face.box(pts[seen])
        share = covered((b.x, b.y, b.w, b.h), tuple(box))
        if share < 0.7:
            off.append((round(t, 3), seen, round(share, 2)))
    assert not off, f"rows (t, frame shown at t, share of its face in the box): {off}"
    # The render burns each row into the frame shown at its time: no skin left.
    rendered = render(services, commander, job.id)
    left = [signature_pixels(img, face.signature, tol=24) for img in displayed_frames(rendered)]
    assert left == [0] * 30, f"face pixels left per frame in the release: {left}"


def test_the_redaction_record_names_the_frames_burned_on_a_variable_frame_rate_video_INV_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    """INV-8, REL-3: the custody event (and the Content Credentials' actions, from the
    same regions) say over which frames each track was burned in. On a 15-then-5 fps
    video a face seen on frames 0..19 only: its track's last frame is the frame shown at
    its last row's time, not that time times the page's step rate (a step number, frame
    14 here, while frames up to 19 and beyond were burned)."""
    from sqlalchemy import select

    from privacy_masks.detection.model import ObjectClass
    from tests.privacy_masks.scenes import SceneObject, background
    from vms.db.models import CustodyEvent

    face = SceneObject(ObjectClass.FACE, (60, 90), (3.0, 0.0), 32, (150, 185, 225))
    pts = [i if i < 15 else 15 + (i - 15) * 3 for i in range(30)]
    pictures = []
    for k, p in enumerate(pts):
        img = background(320, 180)
        if k < 20:
            face.draw(img, p)
        pictures.append(img)
    media_id = ingest(services, encode_pictures(pictures, fps=FPS, pts=pts))
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review", review.error
    with services.db.session() as s:
        stored = services.store.path_for(s.get(MediaItem, media_id).sha256)  # type: ignore[union-attr]
    shown_at = frame_times(stored)
    [track] = [t for t in review.tracks if t.cls == "face"]
    first, last = (
        min(range(30), key=lambda k: abs(shown_at[k] - track.frames[i][0])) for i in (0, -1)
    )
    assert last >= 19, last
    service.render(commander, job.id)
    assert service.run_pending() == 1
    assert service.get(commander, job.id).state == "done"
    with services.db.session() as s:
        custody = s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "redacted"
            )
        ).scalar_one()
        [region] = [r for r in custody.details["tracks"] if r["id"] == track.id]
    assert (region["first_frame"], region["last_frame"]) == (first, last), region


def test_a_fast_face_at_a_low_frame_rate_stays_covered_with_a_stride_REL_3(
    tmp_path: Path,
) -> None:
    """``[redaction] detect_every = 3`` is detection at 5 Hz on a 15 fps camera, but at
    0.6 s on a 5 fps one (a phone in the dark, a dashboard camera's low rate): a face
    crossing the picture moved further than its width between detections, each
    detection became a track of its own held still over the frames between, and the face
    was left partly uncovered there. The stride is bounded in time too
    (``[redaction] detect_max_interval_seconds``, 0.2 s): at 5 fps every frame is
    analysed, and every frame of the release is covered."""
    from privacy_masks.detection import build_detector, tracker_settings
    from privacy_masks.detection.model import ObjectClass
    from privacy_masks.detection.render import Method
    from privacy_masks.redaction_job import analyse_video, render_video
    from tests.privacy_masks.scenes import SceneObject, background, signature_pixels
    from vms.config import RedactionConfig
    from vms.media.transcode import video_info

    face = SceneObject(ObjectClass.FACE, (50, 100), (28.0, 0.0), 32, (150, 185, 225))
    frames = 13
    shots = []
    for f in range(frames):
        img = background(426, 240)
        face.draw(img, f)
        shots.append(img)
    source = tmp_path / "slow.mp4"
    source.write_bytes(encode_pictures(shots, fps=5))
    config = RedactionConfig(detect_every=3)
    detector = build_detector(config, [ObjectClass.FACE])
    info = video_info(source, "slow")
    tracks, _count, times = analyse_video(
        source, "slow", info, detector, tracker_settings(config), config.detect_width
    )
    timed = [
        (times[f], track.id, box)
        for track in tracks
        for f, box in zip(track.frames, track.boxes, strict=True)
    ]
    target = tmp_path / "released.mp4"
    render_video(source, target, "slow", {}, Method.SOLID, margin=config.margin, timed=timed)
    left = [signature_pixels(img, face.signature, tol=24) for img in displayed_frames(target)]
    # Before: [0, ..., 0, 76, 80, 0]: a detection every 0.6 s, each its own track held
    # still, and the face moved out from under it.
    assert left == [0] * frames, f"face pixels left per frame in the release: {left}"


def test_a_second_picture_never_leaves_unredacted_and_its_absence_is_recorded_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A file with two pictures (a dash camera's road and cabin views) and sound: the
    review page shows and the job analyses the first; the release must carry no picture
    that was not redacted (REL-3): the second (its whole frame red, like the face) never
    leaves, and the redaction's record (the custody event ``redacted``, the audit entry,
    so also an export of the copy) says that it was left out (INV-8)."""
    from tests.media import make_several_videos
    from vms.db.models import CustodyEvent

    shown = (320, 180)
    cabin = [np.full((180, 320, 3), RED, np.uint8) for _ in range(FRAMES)]
    media_id = ingest(services, make_several_videos([pictures(*shown), cabin], audio=True))
    rendered = redact_drawn(services, actors["commander"], media_id, shown)
    kinds = [s["codec_type"] for s in json.loads(ffprobe_streams(rendered))["streams"]]
    assert kinds.count("video") == 1, kinds
    left = [red_pixels(img) for img in displayed_frames(rendered)]
    assert left == [0] * FRAMES, f"face pixels left per frame in the release: {left}"
    with services.db.session() as s:
        event = (
            s.query(CustodyEvent)
            .filter(CustodyEvent.media_id == media_id, CustodyEvent.action == "redacted")
            .one()
        )
        details = dict(event.details)
    # Before: KeyError: 'streams_left_out' (the cabin view dropped without a word).
    assert details["streams_left_out"] == [{"index": 1, "type": "video", "codec": "h264"}]


def ffprobe_streams(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
        text=True,
    ).stdout


def test_sound_before_the_first_picture_is_released_and_can_be_muted_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A camera whose microphone starts 1 s before its picture (3 s of tone from 0, 2 s
    of video from 1 s): the released copy keeps that first second of sound before the
    picture (before, it was cut: "outside the copy's timeline", evidence lost), and an
    audio range counts from the item's start, the earliest of sound and picture, so the
    words said before the picture can be muted (0.2..0.6 s here)."""
    data = make_recording(
        video_seconds=2.0, audio_seconds=3.0, container_format="matroska", audio_start=-1.0
    )
    media_id = ingest(services, data)
    commander = actors["commander"]
    service = services.ports.get(RedactionService)
    job = service.create(
        commander, NewRedaction(media_id, ("faces",), "solid", audio_mute=((0.2, 0.6),))
    )
    assert service.run_pending() == 1
    rendered = render(services, commander, job.id)
    samples, rate = audio_of(rendered)
    # Before: 2.0 s of sound (the second before the picture left out).
    assert len(samples) / rate > 2.9, f"{len(samples) / rate:.3f} s of sound released"
    starts = start_times(rendered)
    lead = starts["video"] - starts["audio"]
    assert abs(lead - 1.0) < 0.05, f"the picture starts {lead:.3f} s after the sound, not 1 s"

    def at(seconds: float) -> int:  # a sample index from the copy's start
        return round((seconds - starts["audio"]) * rate)

    assert np.abs(samples[at(0.25) : at(0.55)]).max() == 0.0
    assert np.abs(samples[at(0.65) : at(0.95)]).max() > 0.1
    assert np.abs(samples[at(1.1) : at(2.8)]).max() > 0.1
