"""Clip exports of a camera with an endless GOP (docs/design/exports.md, "Segments that
continue without a keyframe"): a court copy whose range starts inside a segment that
continues the one before it without a keyframe, or crosses such a boundary, still starts
at the frame asked for, and every frame of it is the picture the camera sent (REL-2:
a duplicate of the required portion). The real segment writer, ingest, export job and
cut; the clips decoded with PyAV and compared with the recording decoded in order."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from tests.recorder.endless_gop import (
    decoded_frames,
    frame_index,
    psnr,
    record_endless_gop,
)
from vms.auth.permissions import Actor
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

pytestmark = pytest.mark.timeout(240)


def export_clip(
    services: Services, actor: Actor, source: ExportSource, cut: str, path: Path
) -> dict[str, object]:
    """Export ``source`` in ``cut`` mode: the manifest's clip entry (its file written to
    ``path``)."""
    record = services.exports.create(
        actor, NewExport(purpose="court copy", sources=(source,), case_number="C-9", cut=cut)
    )
    final = services.exports.run(record.id)
    assert final.state == "done" and final.package is not None, final.error
    download = services.exports.package(actor, record.id, remote="test")
    with zipfile.ZipFile(download.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        (clip,) = manifest["clips"]
        path.write_bytes(zf.read(clip["file"]))
    return dict(clip)


@pytest.mark.parametrize("cut", ["exact", "keyframe"])
@pytest.mark.parametrize("span", [(4.0, 7.0), (2.0, 5.0)], ids=["inside", "across"])
def test_a_clip_starting_inside_a_continued_segment_shows_only_true_pictures_REL_2(
    services: Services,
    actors: dict[str, Actor],
    tmp_path: Path,
    cut: str,
    span: tuple[float, float],
) -> None:
    """Before: the cut skipped every packet before the run's first keyframe ("nothing
    decodes before a keyframe"), and a segment continued without one has none, so a
    range from 4 s to 7 s (inside the first continued segment, across into the second)
    made no clip at all: the export failed with "no frame between ...", though every
    frame was recorded and decodes after the segment before it. Now the cut reads the
    continued segments' chain from the segment that starts at its keyframe: ``exact``
    starts at the frame at 4 s (decoded from that keyframe, re-encoded), ``keyframe``
    at the chain's keyframe (the recording's start), and every frame is true. A range
    from 2 s to 5 s (from the keyframe's segment across into the continued one) was cut
    right before and still is."""
    recording = record_endless_gop(services, "cam-endless-export")
    assert recording.continued[:3] == [False, True, True], recording.continued
    start, end = span
    path = tmp_path / "clip.mp4"
    source = ExportSource(recording.camera_id, None, recording.at(start), recording.at(end))
    clip = export_clip(services, actors["investigator"], source, cut, path)
    # The clip names every segment its pictures come from, the chain's keyframe's too.
    used = [row.id for row in recording.rows if row.recorded_start < recording.at(end)]
    assert clip["source_items"] == used
    pictures, flagged = decoded_frames(str(path))
    assert flagged == 0
    first = frame_index(dt.datetime.fromisoformat(str(clip["start"])))
    if cut == "exact":
        assert first == frame_index(recording.at(start))
    else:
        assert first == 0  # the keyframe the continued segments depend on
    assert first + len(pictures) == frame_index(recording.at(end))
    for n, picture in enumerate(pictures):
        quality = psnr(picture, recording.reference[first + n])
        # Re-encoded noise (``exact``) keeps 34 dB and more; a grey frame, a frame made
        # against a missing reference or the wrong frame (the picture moves a column a
        # frame) is below 15.
        assert quality >= 30, (n, quality)


def test_a_clip_of_one_continued_segment_by_its_media_id_shows_only_true_pictures_REL_2(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    """Before: an export naming the stored segment itself (a source by media id, as the
    catalog's item page files it) read that one file only; a segment continued without
    a keyframe has none, so the export failed with "no frame between ...". Now its chain
    is read from the segment that starts at its keyframe, as for a camera range."""
    recording = record_endless_gop(services, "cam-endless-item")
    assert recording.continued[:3] == [False, True, True], recording.continued
    item = recording.rows[1]
    path = tmp_path / "item.mp4"
    source = ExportSource(None, item.id, recording.at(4.0), None)
    clip = export_clip(services, actors["investigator"], source, "exact", path)
    assert clip["source_items"] == [recording.rows[0].id, item.id]
    pictures, flagged = decoded_frames(str(path))
    first = frame_index(dt.datetime.fromisoformat(str(clip["start"])))
    assert flagged == 0 and first == frame_index(recording.at(4.0))
    assert item.recorded_end is not None
    assert first + len(pictures) == frame_index(item.recorded_end)
    for n, picture in enumerate(pictures):
        assert psnr(picture, recording.reference[first + n]) >= 30, n
