"""Playback API models (issue 15.1)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from recorder.playback import PlaybackWindow
from web.contract import Printable, QueryModel, Time


class PlaybackQuery(QueryModel):
    """A window of recorded time: ``start`` and ``end`` (ISO 8601, UTC)."""

    start: Time
    end: Time
    purpose: Annotated[str, Printable(100, multiline=False)] | None = Field(
        None, description="Why (ACC-4): one of [access] review_purposes; kept in the audit entry"
    )

    def command(self, camera_id: str) -> PlaybackWindow:
        return PlaybackWindow(
            camera_id=camera_id, start=self.start, end=self.end, purpose=self.purpose or None
        )
