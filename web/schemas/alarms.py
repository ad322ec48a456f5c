"""Alarms API models (issue 12.3): the list's filters and an alarm."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vms.alarms import AlarmQuery
from web.contract import OutTime, Printable, QueryModel, Range, ResponseModel


class AlarmListQuery(QueryModel):
    """``open``: true only open alarms, false only cleared ones (absent: both);
    ``acknowledged`` likewise; ``camera``: one camera's; newest first, at most ``limit``;
    ``before``: the previous page's ``next_before`` (the older alarms)."""

    open: bool | None = None
    acknowledged: bool | None = None
    camera: Annotated[str, Printable(64, multiline=False)] | None = None
    limit: Annotated[int, Range(1, 500)] = 100
    before: Annotated[int, Range(1, 2147483647)] | None = None

    def command(self) -> AlarmQuery:
        return AlarmQuery(
            open=self.open,
            acknowledged=self.acknowledged,
            camera_id=self.camera or None,
            limit=self.limit,
            before=self.before,
        )


class AlarmOut(ResponseModel):
    """An alarm. ``kind``: camera_offline, video_lost, recording_gap, disk_alarm,
    mask_blanking, store_missing, purge_clock, backup_failed, no_keyframes or
    stream_certificate;
    ``camera_id`` null: the
    site's (the disk, store, purge clock and backup alarms); ``cleared_at`` null: still
    open; ``acknowledged_by``/``acknowledged_at`` null: not acknowledged yet."""

    id: int
    kind: str
    label: str = Field(description="The kind in words, as the pages show it")
    camera_id: str | None
    camera_name: str | None
    raised_at: OutTime
    cleared_at: OutTime | None
    acknowledged_by: str | None
    acknowledged_at: OutTime | None
    detail: str | None
    open: bool


class AlarmListOut(ResponseModel):
    alarms: list[AlarmOut]
    next_before: int | None = Field(
        None,
        description="A full page: pass it as before for the next, older page (null: no more)",
    )
