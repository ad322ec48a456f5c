"""StreamLimit: each user's open live streams of one kind, counted and bounded."""

from __future__ import annotations

import pytest

from recorder.stream_limits import StreamLimit
from vms.errors import RateLimited


def test_a_user_holds_at_most_the_limit_and_a_release_gives_one_back_once() -> None:
    limit = StreamLimit("MJPEG live streams", "[web] max_mjpeg_streams_per_user")
    first = limit.acquire("ann", 2)
    limit.acquire("ann", 2)
    with pytest.raises(RateLimited) as refused:
        limit.acquire("ann", 2)
    assert "ann already has 2 MJPEG live streams open" in refused.value.message
    assert "([web] max_mjpeg_streams_per_user = 2)" in refused.value.message
    assert refused.value.details == {"open_streams": 2, "limit": 2}
    limit.acquire("bob", 2)  # per user
    first()
    first()  # a second call gives nothing back again
    assert limit.open_count("ann") == 1
    limit.acquire("ann", 2)
    with pytest.raises(RateLimited):
        limit.acquire("ann", 2)


def test_zero_is_no_limit() -> None:
    limit = StreamLimit("WebRTC live views", "[webrtc] max_sessions_per_user")
    releases = [limit.acquire("ann", 0) for _ in range(100)]
    assert limit.open_count("ann") == 100
    for release in releases:
        release()
    assert limit.open_count("ann") == 0
