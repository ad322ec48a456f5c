"""The range of every number of the configuration that its section does not check
itself (STYLE practice 5): refused when the configuration loads, naming the key, the
range and the value. Without it a negative retention expired items as they came
(RET-1), a port of 70000 was bound as 4464, an interval of 0 spun its loop, and a huge
duration raised OverflowError when the services opened.

Every duration (a key ending ``_seconds``, ``_minutes``, ``_hours`` or ``_days``) is
also at most :data:`MAX_DURATION_DAYS`: no policy keeps anything longer, and a
``timedelta`` overflows not far beyond.
"""

from __future__ import annotations

import dataclasses

from vms.errors import InvalidArgument

#: The longest duration any setting may give: 100 years.
MAX_DURATION_DAYS = 36525
#: The deepest nesting ``[web] max_json_depth`` may allow: far below Python's recursion
#: limit (1000 frames; a request's parse runs about 50 deep, and the C parser gave up near
#: 950 levels with a RecursionError) so every recursive consumer after the parser (repr,
#: json.dumps, Socket.IO's codec) has room.
MAX_JSON_DEPTH = 256
UNIT_SECONDS = {"_seconds": 1.0, "_minutes": 60.0, "_hours": 3600.0, "_days": 86400.0}


@dataclasses.dataclass(frozen=True)
class Limit:
    """``low`` <= value (``above``: low < value) <= ``high``."""

    low: float
    above: bool = False
    high: float | None = None

    def allows(self, value: float) -> bool:
        if value < self.low or (self.above and value == self.low):
            return False
        return self.high is None or value <= self.high

    def text(self) -> str:
        low = f"{'above' if self.above else 'at least'} {_number(self.low)}"
        return low if self.high is None else f"{low} and at most {_number(self.high)}"


def _number(value: float) -> str:
    """``value`` as written: 52596000, not 5.2596e+07; 0.5 as 0.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


POSITIVE = Limit(0, above=True)
NOT_NEGATIVE = Limit(0)
ONE_OR_MORE = Limit(1)

#: (section, key) -> its range; the settings a section checks itself are not here.
LIMITS: dict[tuple[str, str], Limit] = {
    ("web", "port"): Limit(0, high=65535),  # 0: an ephemeral port
    ("web", "session_hours"): POSITIVE,
    ("web", "token_hours"): POSITIVE,
    ("web", "login_max_failures"): NOT_NEGATIVE,
    ("web", "login_window_seconds"): ONE_OR_MORE,  # also the throttle sweep's interval
    ("web", "login_delay_seconds"): NOT_NEGATIVE,
    ("web", "login_max_delay_seconds"): NOT_NEGATIVE,
    ("web", "stream_recheck_seconds"): POSITIVE,
    ("web", "max_upload_bytes"): ONE_OR_MORE,
    ("web", "max_chunk_bytes"): ONE_OR_MORE,
    ("web", "max_body_bytes"): ONE_OR_MORE,
    ("web", "max_json_depth"): Limit(1, high=MAX_JSON_DEPTH),
    ("web", "trusted_proxies"): NOT_NEGATIVE,
    ("ingest", "dock_scan_seconds"): POSITIVE,
    ("ingest", "dock_settle_seconds"): NOT_NEGATIVE,
    ("ingest", "dock_orphan_sidecar_seconds"): NOT_NEGATIVE,
    ("ingest", "copy_buffer_bytes"): Limit(4096),
    ("ingest", "min_free_bytes"): NOT_NEGATIVE,
    ("ingest", "recorded_at_max_future_seconds"): NOT_NEGATIVE,
    ("ingest", "recorded_at_max_age_days"): ONE_OR_MORE,
    ("ingest", "upload_min_free_bytes"): NOT_NEGATIVE,
    ("ingest", "upload_user_open_bytes"): NOT_NEGATIVE,
    ("ingest", "upload_user_open_uploads"): NOT_NEGATIVE,
    ("ingest", "upload_stale_hours"): POSITIVE,
    ("recorder", "segment_seconds"): POSITIVE,
    ("recorder", "keyframe_seconds"): POSITIVE,
    ("recorder", "read_timeout_seconds"): POSITIVE,
    ("recorder", "reconnect_min_seconds"): POSITIVE,
    ("recorder", "reconnect_max_seconds"): POSITIVE,
    ("retention", "fixed_days"): ONE_OR_MORE,  # RET-1
    ("retention", "bwc_days"): ONE_OR_MORE,  # RET-4
    ("retention", "dash_days"): ONE_OR_MORE,  # RET-4
    ("retention", "handheld_days"): ONE_OR_MORE,
    ("retention", "evidence_days"): ONE_OR_MORE,  # RET-7
    ("retention", "purge_interval_minutes"): POSITIVE,  # RET-13
    ("retention", "purge_batch_size"): ONE_OR_MORE,
    ("retention", "disk_alarm_free_bytes"): NOT_NEGATIVE,
    ("retention", "purge_clock_max_gap_hours"): POSITIVE,
    ("retention", "purge_clock_max_skew_seconds"): NOT_NEGATIVE,  # 0: not compared
    ("tagging", "deadline_hours"): POSITIVE,  # TAG-3
    ("audit", "checkpoint_entries"): ONE_OR_MORE,
    ("audit", "checkpoint_minutes"): POSITIVE,
    ("cameras", "command_timeout_seconds"): POSITIVE,
    ("cameras", "health_interval_seconds"): POSITIVE,
    ("cameras", "pose_fast_hz"): Limit(5),  # INV-5: the masks need 5 Hz while moving
    ("cameras", "pose_idle_seconds"): POSITIVE,
    ("cameras", "pose_settle_seconds"): NOT_NEGATIVE,
    ("cameras", "pose_history_seconds"): POSITIVE,
    ("cameras", "pose_publish_hz"): POSITIVE,
    ("ptz", "idle_release_seconds"): POSITIVE,
    ("ptz", "commands_per_second"): POSITIVE,
    ("ptz", "zoomed_in_threshold"): Limit(0, high=1),
}


def check_limits(section: str, values: object) -> None:
    """Refuse a number of ``values`` (a section's dataclass) outside its range."""
    for f in dataclasses.fields(values):  # type: ignore[arg-type]
        value = getattr(values, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        limit = LIMITS.get((section, f.name))
        unit = next((s for u, s in UNIT_SECONDS.items() if f.name.endswith(u)), None)
        if unit is not None:
            most = MAX_DURATION_DAYS * 86400.0 / unit
            limit = limit or NOT_NEGATIVE
            if limit.high is None or limit.high > most:
                limit = dataclasses.replace(limit, high=most)
        if limit is not None and not limit.allows(value):
            raise InvalidArgument(f"[{section}] {f.name} must be {limit.text()}, not {value!r}")
