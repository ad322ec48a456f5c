"""Redaction of odd but valid videos (REL-3, INV-5's spirit for releases): what the
reviewer draws on the picture as the page shows it must cover those very pixels in the
released copy, on every frame. A phone video held upright is stored sideways with a
display matrix; the page plays it turned (the browser honours the matrix), so the boxes
are drawn on the turned picture (docs/design/redaction.md, "The review page")."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction, RedactionService
from tests.media import displayed_frames, encode_pictures
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


def pictures(width: int, height: int) -> list[np.ndarray]:
    out = []
    for f in range(FRAMES):
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


def redact_drawn(
    services: Services, commander: Actor, media_id: str, shown: tuple[int, int]
) -> Path:
    """Run a job as the review page does: a box drawn over the face on the first and the
    last frame of the picture as shown (``shown``: its width and height), in the
    canvas's pixels (the canvas is the job's ``video.width`` x ``video.height``, laid
    over the shown picture), rendered solid. Returns the rendered file."""
    service = services.ports.get(RedactionService)
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review" and review.video is not None, review.error
    sx, sy = review.video.width / shown[0], review.video.height / shown[1]
    keys = []
    for f in (0, FRAMES - 1):
        x, y, w, h = face_box(f)
        keys.append((f / FPS, x * sx, y * sy, w * sx, h * sy))
    service.edit(commander, job.id, EditRedaction(add=(ManualTrack("face", tuple(keys)),)))
    service.render(commander, job.id)
    assert service.run_pending() == 1
    done = service.get(commander, job.id)
    assert done.state == "done" and done.rendered_media_id, done.error
    with services.db.session() as s:
        item = s.get(MediaItem, done.rendered_media_id)
        assert item is not None
        return services.store.path_for(item.sha256)


@pytest.mark.parametrize("rotation", [90, 270])
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
