"""The redaction review page in headless Chromium with a video whose first frame is not
at 0 on the player's clock (a file written with the camera's running timestamps: its
first frame at 1000 s). Chromium's timeline starts at 0 and shows the first frame from
1000 s on; the page's steps (frame n at n / fps) must land on frame n, or every box a
reviewer draws is keyed on frame 0's picture while the render paints it on frame n
(REL-3; docs/design/redaction.md, "The review page")."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from privacy_masks.redaction import NewRedaction, RedactionRecord, RedactionService
from privacy_masks.redaction_job import drawn_steps
from tests.media import encode_pictures
from tests.web.conftest import Site, login
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

FPS, FRAMES = 15, 30


def marker_x(f: int) -> int:
    """Where frame ``f``'s red square starts: it moves 8 px a frame."""
    return 10 + 8 * f


def pictures() -> list[np.ndarray]:
    out = []
    for f in range(FRAMES):
        img = np.full((180, 320, 3), 96, np.uint8)
        img[60:100, marker_x(f) : marker_x(f) + 24] = (0, 0, 255)
        out.append(img)
    return out


def redaction_of(services: Services, actors: dict[str, Actor], data: bytes) -> RedactionRecord:
    """``data`` ingested as a body-camera video and a redaction job of it (faces, solid)
    run by the commander: the job, in review."""
    media_id = services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        Who("setup", "admin"),
    ).media_id
    service = services.ports.get(RedactionService)
    job = service.create(actors["commander"], NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    return job


def open_review(page: Page, job_id: str) -> None:
    """The commander on the review page of job ``job_id``, its video ready to show."""
    login(page, "commander")
    page.goto(f"/redactions/{job_id}")
    expect(page.locator("#redaction-state")).to_have_text("review")
    page.wait_for_function("() => document.getElementById('redaction-video').readyState >= 2")


def step_forward(page: Page, n: int) -> None:
    """One frame forward on the review page, to its step ``n``, once the video is there."""
    page.locator("#frame-forward").click()
    expect(page.locator("#time")).to_contain_text(f"frame {n}")
    page.wait_for_function("() => !document.getElementById('redaction-video').seeking")


# The red square's left edge in the picture the <video> shows now (drawn to a canvas).
MARKER_JS = """() => {
  const v = document.getElementById('redaction-video');
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const x = c.getContext('2d');
  x.drawImage(v, 0, 0);
  const row = x.getImageData(0, 80, c.width, 1).data;
  for (let i = 0; i < c.width; i++) {
    if (row[4 * i] > 180 && row[4 * i + 1] < 90 && row[4 * i + 2] < 90) return i;
  }
  return -1;
}"""


def test_the_review_page_steps_onto_the_frames_of_a_video_starting_late_REL_3(
    web_assets: object, site: Site, services: Services, actors: dict[str, Actor], page: Page
) -> None:
    data = encode_pictures(pictures(), fps=FPS, pts=range(1000 * FPS, 1000 * FPS + FRAMES))
    job = redaction_of(services, actors, data)
    open_review(page, job.id)
    for n in range(1, 11):
        step_forward(page, n)
    seen = page.evaluate(MARKER_JS)
    assert abs(seen - marker_x(10)) <= 2, (
        f"the page says frame 10 but shows the picture with the marker at x {seen} "
        f"(frame 10's is at {marker_x(10)}, frame 0's at {marker_x(0)})"
    )


def test_each_step_of_the_page_shows_the_frame_the_render_paints_VFR_REL_3(
    web_assets: object, site: Site, services: Services, actors: dict[str, Actor], page: Page
) -> None:
    """A variable frame rate (15 frames at 15 fps, then 15 at 5 fps; the job's fps is the
    average, 7.76): at the page's step n (n / fps) Chromium shows the last frame starting
    at or before it, the frame the render paints step n's drawn box on
    (privacy_masks.redaction_job.drawn_steps); and the last step shows the last frame
    (its time is past (frames - 1) / the average rate: the page never showed it, the
    render held the step before's box on it)."""
    pts = [i if i < 15 else 15 + (i - 15) * 3 for i in range(FRAMES)]
    data = encode_pictures(pictures(), fps=FPS, pts=pts)
    job = redaction_of(services, actors, data)
    review = services.ports.get(RedactionService).get(actors["commander"], job.id)
    fps = review.video.fps  # type: ignore[union-attr]
    open_review(page, job.id)
    for n in range(1, FRAMES):
        step_forward(page, n)
        at = math.ceil(n / fps * 10000 - 1e-6) / 10000  # the page's timeOf
        shown = max(k for k, p in enumerate(pts) if p / FPS <= at + 1e-6)
        seen = page.evaluate(MARKER_JS)
        assert abs(seen - marker_x(shown)) <= 2, (n, seen, marker_x(shown))
        steps = drawn_steps(
            pts[shown] / FPS, pts[shown + 1] / FPS if shown + 1 < FRAMES else 4, fps
        )
        assert n in steps, (n, shown, steps)
    seen = page.evaluate(MARKER_JS)
    assert abs(seen - marker_x(FRAMES - 1)) <= 2, (
        f"the last step shows the marker at x {seen}, not the last frame's ({marker_x(FRAMES - 1)})"
    )


def test_the_canvas_lies_on_a_turned_phone_video_as_shown_REL_3(
    web_assets: object, site: Site, services: Services, actors: dict[str, Actor], page: Page
) -> None:
    """A phone video held upright (stored 320x180 with a display matrix): Chromium shows
    it 180x320, and the review page's canvas, in which boxes are drawn, is 180x320 too,
    so a box drawn over a face is stored in the shown picture's pixels, the ones the
    render paints (privacy_masks test_redaction_media covers the render)."""
    shown = [np.full((320, 180, 3), 96, np.uint8)] * 6
    data = encode_pictures(shown, fps=FPS, rotation=90)
    job = redaction_of(services, actors, data)
    open_review(page, job.id)
    sizes = page.evaluate(
        """() => {
          const v = document.getElementById('redaction-video');
          const c = document.getElementById('redaction-overlay');
          return [v.videoWidth, v.videoHeight, c.width, c.height];
        }"""
    )
    assert sizes == [180, 320, 180, 320], sizes


# Per step: the horizontal middle of the face's skin in the picture the <video> shows and
# of the face track's outline (#ff3b30) the page drew on its canvas, on row ``y``.
FACE_AND_OUTLINE_JS = """(y) => new Promise((done) => requestAnimationFrame(() => {
  const v = document.getElementById('redaction-video');
  const o = document.getElementById('redaction-overlay');
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const x = c.getContext('2d');
  x.drawImage(v, 0, 0);
  const middle = (row, near) => {
    const xs = [];
    for (let i = 0; i < row.length / 4; i++) if (near(row.slice(4 * i, 4 * i + 4))) xs.push(i);
    return xs.length ? (xs[0] + xs[xs.length - 1]) / 2 : null;
  };
  const skin = middle(x.getImageData(0, y, c.width, 1).data,
    (p) => Math.abs(p[0] - 225) < 30 && Math.abs(p[1] - 185) < 30 && Math.abs(p[2] - 150) < 30);
  const outline = middle(o.getContext('2d').getImageData(0, y, o.width, 1).data,
    (p) => p[3] > 128 && p[0] > 200 && p[1] < 110 && p[2] < 110);
  done([skin, outline]);
}))"""


def test_each_step_shows_the_detected_box_over_the_face_it_shows_VFR_REL_3(
    web_assets: object, site: Site, services: Services, actors: dict[str, Actor], page: Page
) -> None:
    """A variable frame rate (15 frames at 15 fps, then 15 at 5 fps) while a face crosses
    the picture, detected on every frame. At each of the page's steps Chromium shows a
    frame; the detected face's outline must be drawn over that frame's face, or a
    reviewer sees the box beside the face and switches a real face off as a false alarm
    (privacy_masks test_redaction_media: the rows' times)."""
    from privacy_masks.detection.model import ObjectClass
    from tests.privacy_masks.scenes import SceneObject, background

    face = SceneObject(ObjectClass.FACE, (60, 90), (3.0, 0.0), 32, (150, 185, 225))
    pts = [i if i < 15 else 15 + (i - 15) * 3 for i in range(FRAMES)]
    shots = []
    for p in pts:
        img = background(320, 180)
        face.draw(img, p)
        shots.append(img)
    job = redaction_of(services, actors, encode_pictures(shots, fps=FPS, pts=pts))
    review = services.ports.get(RedactionService).get(actors["commander"], job.id)
    assert [t.cls for t in review.tracks] == ["face"], review.tracks
    open_review(page, job.id)
    off = []
    for n in range(1, FRAMES):
        step_forward(page, n)
        skin, outline = page.evaluate(FACE_AND_OUTLINE_JS, 90)
        assert skin is not None, n
        if outline is None or abs(outline - skin) > 6:
            off.append((n, skin, outline))
    assert not off, f"steps where the outline is off the face shown (step, face x, box x): {off}"


def test_every_step_of_the_page_shows_its_own_frame_at_15_fps_REL_3(
    web_assets: object, site: Site, services: Services, actors: dict[str, Actor], page: Page
) -> None:
    """A constant 15 fps: the page's step n must show frame n. Its times were rounded to
    0.1 ms, so frame 2's (2 / 15 = 0.13333 s) was sought at 0.1333 s, before the frame
    starts: Chromium showed frame 1 while the page said "frame 2", and a box keyed there
    over frame 1's face was burned into frame 2 (every third frame of a 15 fps video
    could be neither seen nor keyed)."""
    data = encode_pictures(pictures(), fps=FPS)
    job = redaction_of(services, actors, data)
    open_review(page, job.id)
    wrong: list[tuple[object, float]] = []
    for n in range(1, FRAMES):
        step_forward(page, n)
        seen = page.evaluate(MARKER_JS)
        if abs(seen - marker_x(n)) > 2:
            wrong.append((n, (seen - marker_x(0)) / 8))
    # The slider too: each of its positions shows its frame, the last one included.
    for n in (2, 5, 1, FRAMES - 1):
        page.locator("#position").fill(str(n / FPS))
        page.wait_for_timeout(300)
        page.wait_for_function("() => !document.getElementById('redaction-video').seeking")
        seen = page.evaluate(MARKER_JS)
        said = page.locator("#time").text_content()
        if abs(seen - marker_x(n)) > 2 or not (said or "").endswith(f"frame {n}"):
            wrong.append((f"slider at frame {n}: {said}", (seen - marker_x(0)) / 8))
    assert not wrong, f"(step, frame shown) where the page says another frame: {wrong}"
