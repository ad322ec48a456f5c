"""The PTZ audit trail for auditors (INV-6, PSCS-5): query, JSON/CSV export, the report.

Reads the hash-chained audit log (``ptz.*`` entries); writes nothing but the audit entry
of the reading itself (ACC-6: viewing the audit is audited too).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from onvif_control import report
from onvif_control.report import Report
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.bounded import check_window
from vms.clock import Clock, isoformat
from vms.config import PtzConfig
from vms.csv_cells import csv_row
from vms.db.engine import Database
from vms.db.models import AuditEntry, Camera
from vms.errors import InvalidArgument

MAX_ROWS = 100_000  # entries in one export (JSON/CSV); the report streams any number
STREAM_BATCH = 2000  # rows fetched at a time when the report streams entries
# Sessions opened up to this long before a report's start still count inside it.
REPORT_LOOKBACK = dt.timedelta(days=1)
#: How far before a report's period mask lifts are read: longer than any lift may last
#: (``[privacy_masks] max_lift_minutes``, default a day).
LIFT_LOOKBACK = dt.timedelta(days=7)

CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "outcome",
    "camera_id",
    "session_id",
    "user",
    "purpose",
    "incident_number",
    "op",
    "args",
    "sent",
    "clamped",
    "pose_before_pan",
    "pose_before_tilt",
    "pose_before_zoom",
    "pose_after_pan",
    "pose_after_tilt",
    "pose_after_zoom",
    "target_pan",
    "target_tilt",
    "target_zoom",
    "reason",
    "hash",
)

# camera ids -> their mask polygons in (pan, tilt) degrees, read at once:
# ``MaskService.zones_of``, installed as the :class:`~vms.ports.MaskZones` port by the
# plugin that owns the masks (recorder).
ZoneSource = Callable[[Sequence[str]], Mapping[str, Sequence[report.Polygon]]]


@dataclass(frozen=True)
class PtzAuditQuery:
    camera: str | None = None
    user: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def _entries(db: Database, q: PtzAuditQuery) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action.startswith("ptz."))
    if q.camera:
        stmt = stmt.where(AuditEntry.target == f"camera:{q.camera}")
    if q.start:
        stmt = stmt.where(AuditEntry.at >= q.start)
    if q.end:
        stmt = stmt.where(AuditEntry.at < q.end)
    stmt = stmt.order_by(AuditEntry.seq).limit(MAX_ROWS + 1)
    with db.session() as s:
        rows = list(s.execute(stmt).scalars())
    if len(rows) > MAX_ROWS:
        raise InvalidArgument(f"more than {MAX_ROWS} entries: narrow the period or camera")
    if q.user:
        # The user of a session also owns what the system did to it (expiry, limit stop).
        rows = [e for e in rows if e.actor == q.user or e.details.get("user") == q.user]
    return rows


def _pose(value: Any, key: str) -> float | None:
    number = value.get(key) if isinstance(value, dict) else None
    return float(number) if isinstance(number, int | float) and number is not True else None


def _text(value: Any) -> str | None:
    """Free-form audit details as the row's text columns (an old entry may hold
    anything a client sent)."""
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class PtzAuditRow:
    """One PTZ audit entry, flattened: the CSV's columns (``CSV_COLUMNS``, in order)."""

    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    outcome: str
    camera_id: str
    session_id: str | None
    user: str
    purpose: str | None
    incident_number: str | None
    op: str | None
    args: str | None  # JSON text
    sent: str | None  # JSON text
    clamped: bool | None
    pose_before_pan: float | None
    pose_before_tilt: float | None
    pose_before_zoom: float | None
    pose_after_pan: float | None
    pose_after_tilt: float | None
    pose_after_zoom: float | None
    target_pan: float | None
    target_tilt: float | None
    target_zoom: float | None
    reason: str | None
    hash: str


def flat(entry: AuditEntry) -> PtzAuditRow:
    """One audit entry as a flat row (the CSV columns)."""
    d = entry.details
    poses = {
        f"{name}_{axis}": _pose(d.get(name), axis)
        for name in ("pose_before", "pose_after", "target")
        for axis in ("pan", "tilt", "zoom")
    }
    return PtzAuditRow(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        outcome=entry.outcome,
        camera_id=_text(d.get("camera_id")) or entry.target.removeprefix("camera:"),
        session_id=_text(d.get("session_id")),
        user=_text(d.get("user")) or entry.actor,
        purpose=_text(d.get("purpose")),
        incident_number=_text(d.get("incident_number")),
        op=_text(d.get("op")),
        args=json.dumps(d["args"], sort_keys=True) if "args" in d else None,
        sent=json.dumps(d["sent"], sort_keys=True) if "sent" in d else None,
        clamped=d["clamped"] if isinstance(d.get("clamped"), bool) else None,
        reason=_text(d.get("reason")),
        hash=entry.hash,
        **poses,
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return isoformat(value) if isinstance(value, dt.datetime) else value


def to_csv(rows: Sequence[PtzAuditRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        # PSCS-5: an operator's text never runs as a formula in the auditor's spreadsheet.
        writer.writerow(csv_row(_cell(getattr(row, k)) for k in CSV_COLUMNS))
    return out.getvalue()


class PtzAudit:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        config: PtzConfig,
        zones: Callable[[], ZoneSource | None],
        *,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.config = config
        self.allowed = report.parse_hours(config.allowed_hours)
        self._zones = zones
        self.zone = zone  # the agency's: allowed_hours are its wall-clock hours

    def _read(self, by: Who, what: str, details: dict[str, Any]) -> None:
        self.audit.record(self.db, by, what, "audit:ptz", details=details)

    def entries(
        self, actor: Actor | None, q: PtzAuditQuery, *, by: Who | None = None
    ) -> list[PtzAuditRow]:
        """The PTZ entries matching ``q``, oldest first, flattened."""
        if actor is not None:
            self.authoriser.require(actor, Action.AUDIT_READ, "audit:ptz")
        check_window(q.start, q.end)  # PSCS-5: not "nothing happened" in silence
        rows = [flat(e) for e in _entries(self.db, q)]
        reader = who(actor) if actor is not None else by
        assert reader is not None
        self._read(reader, "audit.read", {"what": "ptz", **_query_json(q), "rows": len(rows)})
        return rows

    def report(self, actor: Actor, start: dt.datetime, end: dt.datetime) -> Report:
        """The PTZ-use report for [start, end) (auditors and admins).

        The entries are streamed oldest first into the pure report, which keeps only its
        counters and sessions: a month of a city's PTZ use (thousands of commands a day)
        is more than an export of entries holds (``MAX_ROWS``), and the monthly audit
        cannot narrow its period (OPS-7)."""
        self.authoriser.require(actor, Action.AUDIT_READ, "audit:ptz")
        check_window(start, end)
        in_report = or_(
            and_(AuditEntry.action.startswith("ptz."), AuditEntry.at >= start - REPORT_LOOKBACK),
            and_(
                AuditEntry.action.startswith("mask.lift."),
                AuditEntry.at >= start - LIFT_LOOKBACK,
            ),
        )
        source = self._zones()
        with self.db.session() as s:
            camera_ids = s.execute(
                select(AuditEntry.target)
                .where(AuditEntry.action.startswith("ptz."))
                .where(AuditEntry.at >= start - REPORT_LOOKBACK, AuditEntry.at < end)
                .distinct()
            ).scalars()
            cameras = {t.removeprefix("camera:") for t in camera_ids}
            names = {
                camera_id: name
                for camera_id, name in s.execute(
                    select(Camera.id, Camera.name).where(Camera.id.in_(sorted(cameras)))
                )
            }
        # One read for every camera covered, not one per camera (PSCS-5 at agency scale).
        zones = (
            {c: list(z) for c, z in source(sorted(cameras)).items()} if source is not None else {}
        )
        settings = report.Settings(
            zoom_threshold=self.config.zoomed_in_threshold,
            allowed_from=self.allowed[0],
            allowed_to=self.allowed[1],
            zone=self.zone,
            zones=zones,
        )
        with self.db.session() as s:
            rows = s.execute(
                select(
                    AuditEntry.at,
                    AuditEntry.actor,
                    AuditEntry.role,
                    AuditEntry.action,
                    AuditEntry.outcome,
                    AuditEntry.details,
                )
                .where(in_report, AuditEntry.at < end)
                .order_by(AuditEntry.seq)
                .execution_options(yield_per=STREAM_BATCH)
            )
            built = report.build((report.Entry(*row) for row in rows), start, end, settings)
        self._read(
            who(actor),
            "audit.read",
            {"what": "ptz-report", "start": isoformat(start), "end": isoformat(end)},
        )
        return dataclasses.replace(built, mask_zones_known=source is not None, camera_names=names)


def _query_json(q: PtzAuditQuery) -> dict[str, Any]:
    return {
        "camera": q.camera,
        "user": q.user,
        "start": isoformat(q.start),
        "end": isoformat(q.end),
    }
