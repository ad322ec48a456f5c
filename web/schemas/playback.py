"""Playback API models (issue 15.1)."""

from __future__ import annotations

from recorder.playback import PlaybackWindow
from web.contract import QueryModel, Time


class PlaybackQuery(QueryModel):
    """A window of recorded time: ``start`` and ``end`` (ISO 8601, UTC)."""

    start: Time
    end: Time

    def command(self, camera_id: str) -> PlaybackWindow:
        return PlaybackWindow(camera_id=camera_id, start=self.start, end=self.end)
