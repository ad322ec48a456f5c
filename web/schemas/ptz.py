"""PTZ API models: sessions, commands, status (INV-6, PSCS-2, PSCS-4) and the PTZ audit
for auditors (PSCS-5)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from onvif_control.guard import CommandRequest, Op
from onvif_control.ptz_sessions import OpenSession
from web.contract import Number, OutTime, Printable, QueryModel, RequestModel, ResponseModel, Time
from web.schemas.cameras import PresetOut

OpName = Literal[
    "continuous",
    "stop",
    "absolute",
    "relative",
    "goto_preset",
    "home",
    "set_preset",
    "remove_preset",
]
SessionId = Annotated[str, Printable(64, required=True)]


class _OmitsNone(ResponseModel):
    """A response whose ``OMIT_IF_NONE`` fields are left out, not null, when unset (the
    JSON the pages read has always been so)."""

    OMIT_IF_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        for name in self.OMIT_IF_NONE:
            if out.get(name) is None:
                out.pop(name, None)
        return out


# -- requests -----------------------------------------------------------------------------


class OpenSessionIn(RequestModel):
    """``purpose``: one of ``[ptz] purposes`` (PSCS-4; a reservation's is maintenance);
    ``reserve``: an admin's maintenance reservation (A5)."""

    purpose: Annotated[str, Printable(32, required=True)] | None = None
    incident_number: Annotated[str, Printable(64, required=True)] | None = None
    note: Annotated[str, Printable(1000)] | None = None
    reserve: bool = False

    def command(self) -> OpenSession:
        return OpenSession(self.purpose, self.incident_number, self.note, self.reserve)


class PtzCommandIn(RequestModel):
    """A command in your session. Values are in the ONVIF generic spaces (pan/tilt
    -1..1, zoom 0..1, speed 0..1, continuous timeout 0.05..60 s) unless
    ``units: "degrees"`` (pan and tilt of absolute and relative moves); each op takes
    its own values (stop none, presets a ``preset`` token)."""

    session_id: SessionId
    op: OpName
    units: Literal["generic", "degrees"] = "generic"
    pan: Number | None = None
    tilt: Number | None = None
    zoom: Number | None = None
    speed: Number | None = None
    timeout: Number | None = None
    preset: Annotated[str, Printable(64, required=True)] | None = None

    def command(self) -> CommandRequest:
        return CommandRequest(
            session_id=self.session_id,
            op=Op(self.op),
            units=self.units,
            pan=self.pan,
            tilt=self.tilt,
            zoom=self.zoom,
            speed=self.speed,
            timeout=self.timeout,
            preset=self.preset,
        )


class CloseSessionQuery(QueryModel):
    session_id: Annotated[str, Printable(64)] | None = None


class PtzAuditQueryIn(QueryModel):
    camera: Annotated[str, Printable(200)] | None = None
    user: Annotated[str, Printable(200)] | None = None
    start: Time | None = None
    end: Time | None = None
    format: Literal["json", "csv"] = "json"


class PtzReportQuery(QueryModel):
    """Default: the 7 days up to now (or up to ``end``)."""

    start: Time | None = None
    end: Time | None = None


# -- responses ----------------------------------------------------------------------------


class SessionOut(_OmitsNone):
    """A PTZ session; ``session_id`` only to its holder and admins. ``session_seq``
    (the answer of a take or a release, and a controller read with it): the camera's
    session sequence as of this view (docs/design/ptz-arbitration.md P6)."""

    OMIT_IF_NONE = frozenset({"session_id", "session_seq"})

    session_id: str | None = None
    camera_id: str
    username: str
    role: str
    priority: int
    purpose: str
    incident_number: str | None
    note: str | None
    reservation: bool
    started_at: OutTime
    last_activity_at: OutTime
    expires_at: OutTime | None
    ended_at: OutTime | None
    end_reason: str | None
    session_seq: int | None = None


class ControllerOut(ResponseModel):
    """Who steers the camera now (null: nobody), as of the camera's session sequence
    ``session_seq`` (P6: a page keeps the newest it has seen, events included)."""

    controller: SessionOut | None
    session_seq: int


class ReadingOut(ResponseModel):
    """A pose as read: degrees, the generic spaces (x, y), and when."""

    pan: float
    tilt: float
    zoom: float
    x: float
    y: float
    moving: bool
    at: OutTime


class PoseOut(ResponseModel):
    pan: float
    tilt: float
    zoom: float


class CommandOut(_OmitsNone):
    """What was sent (after the software limits), the target, the poses before and
    after, and when the session expires if no command follows."""

    OMIT_IF_NONE = frozenset({"preset_token", "presets"})

    outcome: Literal["ok"]
    op: OpName
    sent: dict[str, float | str]
    clamped: bool
    target: PoseOut | None
    pose_before: ReadingOut
    pose_after: ReadingOut
    expires_at: OutTime
    preset_token: str | None = None
    presets: list[PresetOut] | None = None


class StatusOut(ResponseModel):
    camera_id: str
    pose: ReadingOut
    moving: bool
    source: Literal["tracker", "camera"]
    controller: SessionOut | None
    session_seq: int


class PtzAuditRowOut(ResponseModel):
    """One PTZ audit entry, flattened (the CSV's columns)."""

    seq: int
    at: OutTime
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
    args: str | None
    sent: str | None
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


class PtzAuditOut(ResponseModel):
    entries: list[PtzAuditRowOut]


class ReportRowOut(ResponseModel):
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


class TimelineOut(ResponseModel):
    session_id: str
    user: str
    camera_id: str
    purpose: str | None
    incident_number: str | None
    start: OutTime
    end: OutTime | None
    end_reason: str | None
    commands: list[OutTime]


class MaskLiftRowOut(ResponseModel):
    """A mask lift overlapping the period (PSCS-1 exception)."""

    lift_id: str
    camera_id: str
    mask_name: str
    reason: str
    granted_by: str
    starts_at: OutTime
    ends_at: OutTime
    ended_at: OutTime | None
    ended_by: str | None
    from_version: int


class PtzReportOut(ResponseModel):
    """Per operator and camera: sessions, commands, time in control and zoomed in, use
    outside hours and into privacy masks; a timeline of sessions; and the privacy-mask
    lifts (PSCS-1 exceptions) overlapping the period."""

    start: OutTime
    end: OutTime
    zoomed_in_threshold: float
    allowed_hours: str
    # The agency's time zone (configuration ``time_zone``) ``allowed_hours`` is read in.
    time_zone: str
    rows: list[ReportRowOut]
    timeline: list[TimelineOut]
    mask_zones_known: bool
    mask_lifts: list[MaskLiftRowOut]
    # The report's cameras' names by id (a camera removed since: absent).
    camera_names: dict[str, str]
