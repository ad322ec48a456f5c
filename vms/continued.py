"""Recorder segments that continue the one before them without a keyframe
(docs/design/recording.md, "Segments without keyframes"): a camera with an endless GOP
has its segment cut at the recorder's limit, and the next segment starts with frames
that decode only after the packets before it. The ingest's custody event says so
(``continues_without_keyframe: true``). What plays or cuts a camera's recording from a
time inside such a segment must begin at the segment that starts at the keyframe they
depend on: :func:`chain_before` finds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.orm import Session

from vms.catalog_values import Continuation
from vms.clock import isoformat
from vms.db.models import CustodyEvent, MediaItem, SourceKind
from vms.fixed_segments import fixed_segments_of

# The custody detail of the ingest event of a segment continued without a keyframe.
CONTINUED = "continues_without_keyframe"
# Consecutive segments of one chain are cut back to back (next start == previous end).
CHAIN_TOLERANCE = dt.timedelta(seconds=0.5)
# How far back a chain is followed (each link is a query): a camera that sent no
# keyframe for this many segments (100 x 180 s by default: 5 h) has its earlier part
# left out, and what is before the first keyframe read does not decode.
MAX_CHAIN = 100


def continued_ids(s: Session, media_ids: Iterable[str]) -> set[str]:
    """Which of ``media_ids`` continue the segment before them without a keyframe."""
    wanted = list(dict.fromkeys(media_ids))
    if not wanted:
        return set()
    # Matched in the stored text (JSONText: compact, the same bytes on every database):
    # only the few continued rows come back, no JSON is parsed (a 24 h playlist asks
    # about 1,440 segments, bench/playlist.py).
    rows = s.execute(
        select(CustodyEvent.media_id).where(
            CustodyEvent.media_id.in_(wanted),
            CustodyEvent.action == "ingested",
            type_coerce(CustodyEvent.details, Text).contains(
                f'"{CONTINUED}":"true"', autoescape=True
            ),
        )
    )
    return set(rows.scalars())


def chain_before(
    s: Session, camera_id: str, first_id: str, first_start: dt.datetime
) -> list[MediaItem]:
    """The camera's segments before the segment ``first_id`` (starting at
    ``first_start``) that its frames depend on, in time order: none when it starts at a
    keyframe; else the segments back to (and with) the one that starts at the chain's
    keyframe, each ending where the next starts (at most :data:`MAX_CHAIN`)."""
    if first_id not in continued_ids(s, [first_id]):
        return []
    chain: list[MediaItem] = []
    start = first_start
    for _ in range(MAX_CHAIN):
        before = s.execute(
            select(MediaItem)
            .where(fixed_segments_of(camera_id), MediaItem.recorded_start < start)
            .order_by(MediaItem.recorded_start.desc())
            .limit(1)
        ).scalar()
        if before is None or before.recorded_end is None:
            break
        if abs(before.recorded_end - start) > CHAIN_TOLERANCE:
            break  # not back to back: not the segment it continues
        chain.append(before)
        if before.id not in continued_ids(s, [before.id]):
            break  # the chain's keyframe
        start = before.recorded_start
    chain.reverse()
    return chain


def continuation_of(s: Session, item: MediaItem) -> Continuation | None:
    """What ``item`` continues when it is a recorder segment continued without a
    keyframe (None otherwise): told on its page and in the API, since its file alone
    does not decode (docs/design/playback.md, "A continued segment on its own")."""
    if item.source != SourceKind.FIXED.value or item.device_id is None:
        return None
    if item.id not in continued_ids(s, [item.id]):
        return None
    end = item.recorded_end or item.recorded_start + dt.timedelta(
        seconds=item.duration_seconds or 0.0
    )
    window = {"camera": item.device_id, "start": isoformat(item.recorded_start)}
    playback = f"/playback?{urlencode({**window, 'end': isoformat(end)})}"
    chain = chain_before(s, item.device_id, item.id, item.recorded_start)
    if not chain:  # nothing recorded back to back before it
        return Continuation("", (), False, playback)
    complete = chain[0].id not in continued_ids(s, [chain[0].id])
    return Continuation(chain[-1].id, tuple(c.id for c in chain), complete, playback)


def undecodable_start(s: Session, rows: Sequence[MediaItem]) -> str | None:
    """Why the first of ``rows`` (a camera's segments in time order, the chain of
    :func:`chain_before` first) cannot be decoded from its start, or None: it continues
    a segment without a keyframe and no segment before it starting at one was found
    (the chain is longer than :data:`MAX_CHAIN`, or broken by a gap): its frames up to
    the camera's next keyframe have nothing to be decoded from. Said, never shown as
    grey frames (docs/design/recording.md, "How far back a chain is followed")."""
    if not rows or rows[0].id not in continued_ids(s, [rows[0].id]):
        return None
    first = rows[0]
    keyframes = [r for r in rows[1:] if r.id not in continued_ids(s, [r.id])]
    after = (
        f"the next one starts at {isoformat(keyframes[0].recorded_start)}"
        if keyframes
        else "none is in the range"
    )
    return f"{undecodable_from(first.recorded_start)} ({after})"


def undecodable_from(start: dt.datetime) -> str:
    """What is said of a recording from ``start`` that continues a segment without a
    keyframe whose chain's keyframe was not found (:func:`undecodable_start`)."""
    return (
        f"the recording from {isoformat(start)} continues segments cut without a keyframe "
        f"further back than the {MAX_CHAIN} segments followed (or after a gap): its frames "
        "cannot be decoded until the camera's next keyframe"
    )
