"""The PTZ-use report (issue 4 item 7, PSCS-2, PSCS-5): pure figures from audit entries.

Per operator and camera over a period: sessions, commands (granted and refused), time in
control, time zoomed in beyond a threshold, sessions without an incident number, use
outside the configured hours, and commands that aimed into a privacy-mask zone; plus a
timeline of sessions for the auditors' page. No I/O: entries, settings and the period
come in, a :class:`Report` goes out (STYLE practice 2).

How the figures are counted (docs/design/ptz-arbitration.md, "PTZ-use report"):

- A session runs from its ``ptz.session.open`` entry to the entry that ended it (close,
  release, take-over, expiry), clipped to the period; still open: until the period end.
- The zoom between two commands of a session is the zoom the first one aimed at (its
  target, else the pose read after it); before the first command, that command's pose
  before. Time zoomed in is the time with zoom above the threshold.
- A command "aims into a privacy-mask zone" when the view centre it aimed at (target,
  else pose after) lies inside one of the camera's mask polygons, (pan, tilt) degrees.
- Use outside hours: commands, and sessions started, outside ``allowed_hours``, read on
  the agency's clock (``Settings.zone``, the configuration's ``time_zone``).
- Mask lifts (PSCS-1 exceptions): every lift whose window overlaps the period, from its
  ``mask.lift.create`` entry (who, which mask of which camera, reason, window) and the
  ``mask.lift.end``/``mask.lift.expire`` entry that ended it (early by whom, or expiry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Polygon = Sequence[tuple[float, float]]
LIFT_ACTIONS = frozenset({"mask.lift.create", "mask.lift.end", "mask.lift.expire"})
END_ACTIONS = frozenset(
    {"ptz.session.close", "ptz.session.release", "ptz.session.takeover", "ptz.session.expire"}
)


@dataclass(frozen=True)
class Entry:
    """The parts of an audit entry the report reads."""

    at: dt.datetime
    actor: str
    role: str
    action: str
    outcome: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Settings:
    zoom_threshold: float = 0.5
    allowed_from: dt.time = dt.time(6, 0)
    allowed_to: dt.time = dt.time(22, 0)
    # The agency's time zone: the hours above are its wall-clock hours.
    zone: dt.tzinfo = dt.UTC
    # camera id -> mask polygons in (pan, tilt) degrees
    zones: Mapping[str, Sequence[Polygon]] = field(default_factory=dict)


def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    """``"06:00-22:00"`` -> (06:00, 22:00); a window may wrap midnight (22:00-06:00)."""
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"allowed hours {text!r} must be HH:MM-HH:MM") from None
    return start, end


def within_hours(at: dt.datetime, start: dt.time, end: dt.time, zone: dt.tzinfo = dt.UTC) -> bool:
    """Whether ``at`` falls in [start, end) on the wall clock of ``zone`` (a window may
    wrap midnight)."""
    t = at.astimezone(zone).time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def inside(pan: float, tilt: float, polygon: Polygon) -> bool:
    """Ray casting in the (pan, tilt) plane."""
    hit = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > tilt) != (y2 > tilt):
            x = x1 + (tilt - y1) * (x2 - x1) / (y2 - y1)
            if pan < x:
                hit = not hit
    return hit


@dataclass
class _Session:
    id: str
    user: str
    role: str
    camera_id: str
    purpose: str | None
    incident: str | None
    start: dt.datetime
    end: dt.datetime | None = None
    end_reason: str | None = None
    # (time, zoom aimed at, zoom before)
    zooms: list[tuple[dt.datetime, float, float | None]] = field(default_factory=list)
    commands: list[dt.datetime] = field(default_factory=list)


@dataclass
class _Row:
    user: str
    role: str
    camera_id: str
    sessions: int = 0
    sessions_without_incident: int = 0
    sessions_outside_hours: int = 0
    commands: int = 0
    commands_refused: int = 0
    commands_outside_hours: int = 0
    commands_into_masks: int = 0
    seconds_in_control: float = 0.0
    seconds_zoomed_in: float = 0.0


@dataclass(frozen=True)
class ReportRow:
    """One operator's use of one camera over the period."""

    user: str
    role: str
    camera_id: str
    sessions: int
    sessions_without_incident: int
    sessions_outside_hours: int
    commands: int
    commands_refused: int
    commands_outside_hours: int
    commands_into_masks: int
    seconds_in_control: float
    seconds_zoomed_in: float


@dataclass(frozen=True)
class TimelineSession:
    """A session overlapping the period; ``end`` None while it is open."""

    session_id: str
    user: str
    camera_id: str
    purpose: str | None
    incident_number: str | None
    start: dt.datetime
    end: dt.datetime | None
    end_reason: str | None
    commands: tuple[dt.datetime, ...]


@dataclass(frozen=True)
class MaskLiftRow:
    """A mask lift overlapping the period (PSCS-1 exception): ``ended_at``/``ended_by``
    None while it runs (``ended_by`` ``mask-lift-expiry``: it ran to its end)."""

    lift_id: str
    camera_id: str
    mask_name: str
    reason: str
    granted_by: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    ended_at: dt.datetime | None
    ended_by: str | None
    from_version: int


@dataclass(frozen=True)
class Report:
    """The PTZ-use report of [start, end); ``mask_zones_known``: whether the privacy
    masks were known (else ``commands_into_masks`` cannot count)."""

    start: dt.datetime
    end: dt.datetime
    zoomed_in_threshold: float
    allowed_hours: str
    rows: tuple[ReportRow, ...]
    timeline: tuple[TimelineSession, ...]
    mask_zones_known: bool = False
    mask_lifts: tuple[MaskLiftRow, ...] = ()
    # The agency's time zone ``allowed_hours`` is read in.
    time_zone: str = "UTC"
    # The names of the report's cameras by id (a camera removed since: absent), so the
    # auditor reads "5th & Main", not an id (PSCS-5: who did what with which camera).
    camera_names: Mapping[str, str] = field(default_factory=dict)


def _aim(details: Mapping[str, Any]) -> Mapping[str, Any] | None:
    aim = details.get("target") or details.get("pose_after")
    return aim if isinstance(aim, Mapping) else None


def _overlap(a: dt.datetime, b: dt.datetime, start: dt.datetime, end: dt.datetime) -> float:
    lo, hi = max(a, start), min(b, end)
    return max(0.0, (hi - lo).total_seconds())


def build(
    entries: Iterable[Entry], start: dt.datetime, end: dt.datetime, settings: Settings
) -> Report:
    """The report for [start, end). ``entries`` oldest first (may begin before start)."""
    sessions: dict[str, _Session] = {}
    rows: dict[tuple[str, str], _Row] = {}

    def row(user: str, role: str, camera_id: str) -> _Row:
        key = (user, camera_id)
        if key not in rows:
            rows[key] = _Row(user, role, camera_id)
        return rows[key]

    lifts: dict[str, MaskLiftRow] = {}
    for e in entries:
        d = e.details
        sid = d.get("session_id")
        if e.action in LIFT_ACTIONS and e.outcome == "ok":
            _lift(lifts, e)
        elif e.action == "ptz.session.open" and e.outcome == "ok" and isinstance(sid, str):
            sessions[sid] = _Session(
                sid,
                e.actor,
                e.role,
                str(d.get("camera_id")),
                d.get("purpose"),
                d.get("incident_number"),
                e.at,
            )
        elif e.action in END_ACTIONS and e.outcome == "ok" and sid in sessions:
            ended = sessions[sid]
            ended.end, ended.end_reason = e.at, str(d.get("reason"))
        elif e.action == "ptz.command" and e.role == "system":
            continue  # the arbiter's stops when a session ends: not anyone's use of PTZ
        elif e.action == "ptz.command":
            in_period = start <= e.at < end
            camera_id = str(d.get("camera_id"))
            user = str(d.get("user") or e.actor)
            if e.outcome != "ok":
                if in_period:
                    row(e.actor, e.role, camera_id).commands_refused += 1
                continue
            session = sessions.get(sid) if isinstance(sid, str) else None
            aim = _aim(d)
            before = d.get("pose_before") if isinstance(d.get("pose_before"), Mapping) else None
            if session is not None and aim is not None:
                session.zooms.append(
                    (
                        e.at,
                        float(aim.get("zoom", 0.0)),
                        float(before["zoom"]) if before and "zoom" in before else None,
                    )
                )
                session.commands.append(e.at)
            if not in_period:
                continue
            r = row(user, e.role, camera_id)
            r.commands += 1
            if not within_hours(e.at, settings.allowed_from, settings.allowed_to, settings.zone):
                r.commands_outside_hours += 1
            if aim is not None and any(
                inside(float(aim["pan"]), float(aim["tilt"]), polygon)
                for polygon in settings.zones.get(camera_id, ())
            ):
                r.commands_into_masks += 1

    timeline = []
    for s in sessions.values():
        s_end = s.end or end
        if s_end <= start or s.start >= end:
            continue
        r = row(s.user, s.role, s.camera_id)
        if start <= s.start < end:
            r.sessions += 1
            if not s.incident:
                r.sessions_without_incident += 1
            if not within_hours(s.start, settings.allowed_from, settings.allowed_to, settings.zone):
                r.sessions_outside_hours += 1
        r.seconds_in_control += _overlap(s.start, s_end, start, end)
        r.seconds_zoomed_in += _zoomed(s, s_end, start, end, settings.zoom_threshold)
        timeline.append(
            TimelineSession(
                session_id=s.id,
                user=s.user,
                camera_id=s.camera_id,
                purpose=s.purpose,
                incident_number=s.incident,
                start=s.start,
                end=s.end,
                end_reason=s.end_reason,
                commands=tuple(t for t in s.commands if start <= t < end),
            )
        )
    ordered = sorted(rows.values(), key=lambda r: (r.user, r.camera_id))
    return Report(
        start=start,
        end=end,
        zoomed_in_threshold=settings.zoom_threshold,
        allowed_hours=f"{settings.allowed_from:%H:%M}-{settings.allowed_to:%H:%M}",
        time_zone=str(settings.zone),
        rows=tuple(
            ReportRow(
                user=r.user,
                role=r.role,
                camera_id=r.camera_id,
                sessions=r.sessions,
                sessions_without_incident=r.sessions_without_incident,
                sessions_outside_hours=r.sessions_outside_hours,
                commands=r.commands,
                commands_refused=r.commands_refused,
                commands_outside_hours=r.commands_outside_hours,
                commands_into_masks=r.commands_into_masks,
                seconds_in_control=round(r.seconds_in_control, 3),
                seconds_zoomed_in=round(r.seconds_zoomed_in, 3),
            )
            for r in ordered
        ),
        timeline=tuple(sorted(timeline, key=lambda t: (t.start, t.session_id))),
        mask_lifts=tuple(
            sorted(
                (
                    lift
                    for lift in lifts.values()
                    if lift.starts_at < end and (lift.ended_at or lift.ends_at) > start
                ),
                key=lambda lift: (lift.starts_at, lift.lift_id),
            )
        ),
    )


def _lift(lifts: dict[str, MaskLiftRow], e: Entry) -> None:
    """Fold one ``mask.lift.*`` entry into ``lifts`` (by lift id)."""
    d = e.details
    lift_id = d.get("lift_id")
    if not isinstance(lift_id, str):
        return
    try:
        row = MaskLiftRow(
            lift_id=lift_id,
            camera_id=str(d.get("camera_id")),
            mask_name=str(d.get("mask_name")),
            reason=str(d.get("reason")),
            granted_by=str(d.get("granted_by")),
            starts_at=dt.datetime.fromisoformat(str(d["starts_at"])),
            ends_at=dt.datetime.fromisoformat(str(d["ends_at"])),
            ended_at=(dt.datetime.fromisoformat(str(d["ended_at"])) if d.get("ended_at") else None),
            ended_by=str(d["ended_by"]) if d.get("ended_by") else None,
            from_version=int(d.get("from_version") or 0),
        )
    except (KeyError, ValueError, TypeError):
        return  # an entry that is not a lift's: not counted
    if e.action == "mask.lift.create" and lift_id in lifts:
        return
    lifts[lift_id] = row


def _zoomed(
    s: _Session, s_end: dt.datetime, start: dt.datetime, end: dt.datetime, threshold: float
) -> float:
    if not s.zooms:
        return 0.0
    total = 0.0
    first_at, _, first_before = s.zooms[0]
    if first_before is not None and first_before > threshold:
        total += _overlap(s.start, first_at, start, end)
    for i, (at, zoom, _) in enumerate(s.zooms):
        until = s.zooms[i + 1][0] if i + 1 < len(s.zooms) else s_end
        if zoom > threshold:
            total += _overlap(at, until, start, end)
    return total
