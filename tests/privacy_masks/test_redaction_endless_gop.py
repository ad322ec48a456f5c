"""Redaction of a recorder segment that continues the one before it without a keyframe
(a camera with an endless GOP; docs/design/redaction.md, "Segments that continue
without a keyframe"): the redacted copy has every frame of the segment's own span, each
the picture the camera sent with the redaction burned in (REL-3). The real segment
writer, ingest and redaction job; the copy decoded with PyAV and compared frame by frame
with the recording decoded in order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import vms.continued
from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction, RedactionService
from tests.privacy_masks.test_redaction_media import render
from tests.recorder.endless_gop import decoded_frames, frame_index, psnr, record_endless_gop
from vms.auth.permissions import Actor
from vms.db.models import MediaItem
from vms.errors import InvalidArgument, PermissionDenied
from vms.services import Services

pytestmark = pytest.mark.timeout(240)

# The manual track's box (x, y, w, h) over the 160x120 picture, and a margin around it
# the solid fill may reach (the render's margin, chroma rounding).
BOX = (40, 30, 40, 30)
MARGIN = 12


def outside(picture: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The picture with the box and its margin cut out (as the rows above and below)."""
    _, y, _, h = BOX
    top = picture[: max(0, y - MARGIN)]
    bottom = picture[y + h + MARGIN :]
    return np.concatenate([top, bottom])


def inside(picture: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    x, y, w, h = BOX
    return picture[y + 2 : y + h - 2, x + 2 : x + w - 2]


def test_a_redacted_copy_of_a_continued_segment_has_every_frame_REL_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Before: the job decoded the continued segment's file alone, and its frames depend
    on the segment before it (no keyframe in it): the copy lacked them or showed them
    grey. Now the job decodes the chain from its keyframe and renders every frame of the
    segment's own span: each is the camera's picture outside the box and solid inside."""
    recording = record_endless_gop(services, "cam-endless-redact")
    assert recording.continued[:3] == [False, True, True], recording.continued
    item = recording.rows[1]
    assert item.recorded_end is not None
    first = frame_index(item.recorded_start)
    count = frame_index(item.recorded_end) - first
    service = services.ports.get(RedactionService)
    commander = actors["commander"]
    job = service.create(commander, NewRedaction(item.id, ("faces",), "solid"))
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review", review.error
    assert review.video is not None and review.video.frames == count
    last = (count - 1) / review.video.fps
    keys = ((0.0, *BOX), (last, *BOX))
    service.edit(commander, job.id, EditRedaction(add=(ManualTrack("plate", keys),)))
    rendered = render(services, commander, job.id)
    pictures, flagged = decoded_frames(str(rendered))
    assert flagged == 0
    assert len(pictures) == count
    for n, picture in enumerate(pictures):
        # The camera's picture of that instant (two encodes from the camera's: the
        # chain's re-encoded span, then the render), closer to it than to its neighbours.
        seen = [
            psnr(outside(picture), outside(recording.reference[first + n + d])) for d in (-1, 0, 1)
        ]
        assert seen[1] >= 27 and seen[1] > max(seen[0], seen[2]), f"frame {n}: {seen}"
        box = inside(picture).astype(np.int16)
        assert int(box.max() - box.min()) <= 8, f"frame {n}: the box is not solid"


def test_a_redaction_of_a_continued_segment_needs_the_right_to_its_chain_ACC_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The copy is made from the segments before it too: a user who may not redact one
    of them (restricted, ACC-7: only admins) is refused, as an export is (ACC-1)."""
    recording = record_endless_gop(services, "cam-endless-redact-acl")
    keyframe, item = recording.rows[0], recording.rows[1]
    with services.db.transaction() as s:
        row = s.get(MediaItem, keyframe.id)
        assert row is not None
        row.restricted = True
    service = services.ports.get(RedactionService)
    with pytest.raises(PermissionDenied):
        service.create(actors["commander"], NewRedaction(item.id, ("faces",), "solid"))


def test_a_redaction_past_the_followed_chain_is_refused_with_the_reason(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment whose chain is longer than is followed back (vms.continued.MAX_CHAIN,
    lowered to one segment: the second continued segment is past it) cannot be decoded
    from its start: the redaction is refused saying so (400), not run into a failed job
    or a copy with grey frames."""
    monkeypatch.setattr(vms.continued, "MAX_CHAIN", 1)
    recording = record_endless_gop(services, "cam-endless-redact-limit")
    service = services.ports.get(RedactionService)
    item = recording.rows[2]
    with pytest.raises(InvalidArgument, match="cannot be decoded until the camera's next key"):
        service.create(actors["commander"], NewRedaction(item.id, ("faces",), "solid"))
