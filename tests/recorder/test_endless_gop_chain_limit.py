"""A chain of segments continued without a keyframe longer than the recorder follows
back (vms.continued.MAX_CHAIN: 100 segments, about 5 h with the default segment length;
docs/design/recording.md, "How far back a chain is followed"): an export or a playback
of a range inside it says that its frames cannot be decoded until the camera's next
keyframe, instead of failing with "no frame" or showing grey pictures. The real segment
writer and ingest (tests/recorder/endless_gop.py); the limit lowered to one segment so
that the recording's second continued segment (6.2 s to 9.3 s) is past it (its chain is
two segments back), as a 5 h one would be."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

import vms.continued
from tests.recorder.endless_gop import record_endless_gop
from vms.auth.permissions import Actor
from vms.clock import isoformat
from vms.errors import InvalidArgument
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

pytestmark = pytest.mark.timeout(240)


def test_an_export_past_the_followed_chain_is_refused_with_the_reason_REL_2(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the export was accepted and its job failed with "no frame between 7 s
    and 8 s" (the cut read one continued segment, without a keyframe), though every
    frame was recorded. Now creating it is refused (400) naming why and where the
    camera's next keyframe is, for a camera range and for the segment by its media id;
    with the whole chain followed the same export is made."""
    recording = record_endless_gop(services, "cam-endless-limit")
    assert recording.continued[:4] == [False, True, True, False], recording.continued
    monkeypatch.setattr(vms.continued, "MAX_CHAIN", 1)
    investigator = actors["investigator"]
    item = recording.rows[2]
    sources = [
        ExportSource(recording.camera_id, None, recording.at(7.0), recording.at(8.0)),
        ExportSource(None, item.id, None, None),
    ]
    for source in sources:
        command = NewExport(purpose="court copy", sources=(source,), case_number="C-9")
        with pytest.raises(InvalidArgument) as refused:
            services.exports.create(investigator, command)
        text = str(refused.value)
        assert "further back than the 1 segments followed" in text, text
        assert "cannot be decoded until the camera's next keyframe" in text, text
    # Within the range, the next keyframe is named (the segment from 9.3 s).
    wide = ExportSource(recording.camera_id, None, recording.at(7.0), recording.at(9.9))
    with pytest.raises(InvalidArgument, match="the next one starts at"):
        services.exports.create(
            investigator, NewExport(purpose="court copy", sources=(wide,), case_number="C-9")
        )
    monkeypatch.setattr(vms.continued, "MAX_CHAIN", 100)
    made = services.exports.create(
        investigator, NewExport(purpose="court copy", sources=sources[:1], case_number="C-9")
    )
    assert services.exports.run(made.id).state == "done"


def test_a_playback_past_the_followed_chain_says_so(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: the playlist began with a segment that does not start at a keyframe (its
    chain's keyframe not followed) and nothing said so: the player showed nothing or
    grey until the next keyframe. Now the playlist's response says why
    (X-Playback-Notice), which the playback page shows; a playlist that decodes from its
    start says nothing."""
    recording = record_endless_gop(services, "cam-endless-limit-hls")
    query = {
        "start": isoformat(recording.at(7.0)),
        "end": isoformat(recording.at(8.0)),
        "purpose": "investigation",
    }
    url = f"/api/v1/cameras/{recording.camera_id}/playback.m3u8"
    headers = {"Authorization": f"Bearer {tokens['investigator']}"}
    r = client.get(url, query_string=query, headers=headers)
    assert r.status_code == 200 and "X-Playback-Notice" not in r.headers
    monkeypatch.setattr(vms.continued, "MAX_CHAIN", 1)
    r = client.get(url, query_string=query, headers=headers)
    assert r.status_code == 200
    notice = r.headers.get("X-Playback-Notice", "")
    assert "cannot be decoded until the camera's next keyframe" in notice, r.headers
    assert isoformat(recording.rows[1].recorded_start) in notice
    assert "#EXT-X-INDEPENDENT-SEGMENTS" not in r.get_data(as_text=True)
