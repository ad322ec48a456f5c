"""Queries on a camera's fixed segments (RET-1, INV-9) that seek on
``ix_media_items_device_time``: playback, recording timelines and exports read a
camera's segments over a window with them (moved out of :mod:`vms.catalog`, which
re-exports both)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from vms.db.models import MediaItem, SourceKind


def fixed_segments_of(camera_id: str) -> ColumnElement[bool]:
    """The condition "a fixed segment of ``camera_id``", written so that the database
    seeks on ``ix_media_items_device_time``.

    SQLite without ANALYZE statistics (an installation never runs it) takes the first
    index whose leading column has an equality: with a plain ``source = 'fixed'`` that is
    ``ix_media_items_source_time``, which reads every camera's segments in the window and
    filters them by camera (26 ms instead of 4 for a 24 h playlist of one of 20 cameras,
    bench/playlist.py). ``source || ''`` is SQLite's documented way to keep a term off the
    indexes (there written ``+source``), in a form PostgreSQL accepts too.
    """
    return and_(
        MediaItem.device_id == camera_id,
        MediaItem.source.concat("") == SourceKind.FIXED.value,
    )


def segments_from(s: Session, camera_id: str, start: dt.datetime) -> dt.datetime:
    """Where a camera's segments overlapping ``start..`` begin: the start of the last
    segment starting at or before ``start`` (the only one that can cover it: one writer
    per camera, INV-9, so segments do not overlap), else ``start``. One seek on
    ``ix_media_items_device_time``; without it a range query scans every earlier one."""
    floor = s.execute(
        select(MediaItem.recorded_start)
        .where(fixed_segments_of(camera_id), MediaItem.recorded_start <= start)
        .order_by(MediaItem.recorded_start.desc())
        .limit(1)
    ).scalar()
    return floor if floor is not None else start
