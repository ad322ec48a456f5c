"""The configuration sections of the media side: recording, live video (WebRTC),
privacy masks, redaction, camera connections and PTZ. Part of the one typed
configuration (:mod:`vms.config`, which loads them and re-exports every class).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from vms.db.models import Role
from vms.errors import InvalidArgument


@dataclasses.dataclass(frozen=True)
class RecorderConfig:
    segment_seconds: float = 60.0
    # Masked cameras: an IDR every this many seconds (segment cut points, live joins).
    keyframe_seconds: float = 1.0
    # A read from the camera blocking longer than this is a stall (OPS-4 gap "stalled").
    read_timeout_seconds: float = 5.0
    # Reconnect backoff: first delay, doubling up to the maximum.
    reconnect_min_seconds: float = 0.5
    reconnect_max_seconds: float = 30.0
    # The media role re-reads the camera registry this often: a camera added, edited or
    # removed while it runs starts, restarts or stops recording within this time.
    reconcile_seconds: float = 5.0
    # A segment the object store did not take (503, a timeout) stays in the spool and is
    # ingested again this often until the store answers (recorder/pending.py).
    segment_retry_seconds: float = 10.0
    # The longest window one playback playlist may span (issue 15.1).
    playback_max_hours: float = 24.0
    # Alarms (issue 12.3): no video packet from a camera for this long raises "video
    # lost" (whether ONVIF answers or not); the mask stage blanking a camera's whole
    # picture (pose lost, INV-5) for this long raises "picture blanked".
    video_lost_seconds: float = 10.0
    blanking_alarm_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not self.segment_retry_seconds > 0:
            raise InvalidArgument(
                "[recorder] segment_retry_seconds must be above 0, not "
                f"{self.segment_retry_seconds}"
            )
        if not self.reconcile_seconds > 0:
            raise InvalidArgument(
                f"[recorder] reconcile_seconds must be above 0, not {self.reconcile_seconds}"
            )
        if not self.playback_max_hours > 0:
            raise InvalidArgument(
                f"[recorder] playback_max_hours must be above 0, not {self.playback_max_hours}"
            )
        for name in ("video_lost_seconds", "blanking_alarm_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise InvalidArgument(
                    f"[recorder] {name} must be above 0 and at most 3600, not {getattr(self, name)}"
                )


@dataclasses.dataclass(frozen=True)
class WebrtcConfig:
    # STUN/TURN URLs handed to the browser for routed sites, comma-separated
    # ("stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp"); empty:
    # host candidates only (a LAN).
    ice_servers: str = ""
    ice_username: str = ""
    ice_credential: str = ""
    # A WHEP session whose ICE/DTLS has not connected this long after its offer is closed.
    connect_timeout_seconds: float = 15.0
    # WHEP sessions one user may hold open at once on a media node, connected or still
    # connecting (0: no limit); one more is refused with 429. Two 16-tile walls fit.
    max_sessions_per_user: int = 32
    # A viewer joining a pass-through camera (or reporting picture loss) asks the camera
    # for a keyframe (ONVIF SetSynchronizationPoint) instead of waiting for its next GOP.
    camera_keyframe_requests: bool = True
    # At most one such request per camera this often, however many viewers ask.
    camera_keyframe_interval_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.connect_timeout_seconds > 0:
            raise InvalidArgument(
                "[webrtc] connect_timeout_seconds must be above 0, not "
                f"{self.connect_timeout_seconds}"
            )
        if self.max_sessions_per_user < 0:
            raise InvalidArgument(
                "[webrtc] max_sessions_per_user must be 0 (no limit) or more, not "
                f"{self.max_sessions_per_user}"
            )
        if not 0 < self.camera_keyframe_interval_seconds <= 60:
            raise InvalidArgument(
                "[webrtc] camera_keyframe_interval_seconds must be above 0 and at most 60, "
                f"not {self.camera_keyframe_interval_seconds}"
            )
        for url in self.ice_server_list:
            if not re.fullmatch(r"(stuns?|turns?):[^\s,]+", url):
                raise InvalidArgument(
                    f"[webrtc] ice_servers: {url!r} is not a stun:, stuns:, turn: or turns: URL"
                )

    @property
    def ice_server_list(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.ice_servers.split(",") if u.strip())


@dataclasses.dataclass(frozen=True)
class PrivacyMasksConfig:
    # INV-5: a pose older than this blanks masked cameras' frames.
    stale_moving_seconds: float = 1.0
    stale_idle_seconds: float = 2.0
    # The slowest GetStatus round trip whose pose is used (slower replies are not
    # recorded), and how far a pose stamp that carries no uncertainty of its own may be
    # off from the frame's (every mask bound is widened by it).
    latency_seconds: float = 0.15
    # How far a frame's capture-time estimate may be from the instant the picture was
    # taken: the camera's own capture-to-stream delay plus the estimate's error
    # (recorder/timing.py). Added to each pose sample's own uncertainty (half its round
    # trip) in every mask bound.
    capture_error_seconds: float = 0.1
    # How long after its capture a frame of a moving camera may wait for the pose reply
    # read after it, so its mask is bounded between two readings instead of extrapolated
    # by speed (adds up to this much latency while the camera moves; 0: never wait).
    pose_wait_seconds: float = 0.1
    # Always added around every mask.
    margin_degrees: float = 0.3
    margin_pixels: float = 2.0
    # Top angular speed assumed while a move is not yet measured (just commanded/started).
    assumed_speed_deg_s: float = 90.0
    # "solid" (default) or "pixelate".
    style: str = "solid"
    # Issue 12.4: narrow a moving camera's masks by registering its pictures (inside the
    # telemetry band only; docs/design/mask-geometry.md, item 8). Off by default: its
    # error bound is measured on the simulator's scene, not proved for every scene.
    registration: bool = False
    # PSCS-1 exceptions: the longest a mask may be lifted for (minutes).
    max_lift_minutes: float = 1440.0

    def __post_init__(self) -> None:
        # INV-5: the time allowances widen every mask bound; a negative one would narrow
        # it, and a wait of a second or more would let the pose go stale while waiting.
        for name, low, high in (
            ("latency_seconds", 0.0, 5.0),
            ("capture_error_seconds", 0.0, 5.0),
            ("pose_wait_seconds", 0.0, 0.99),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise InvalidArgument(
                    f"[privacy_masks] {name} must be in [{low}, {high}], not {value}"
                )
        # INV-5: margins only widen masks (a negative one would narrow them below the
        # private window); a stale limit, the assumed top speed and a lift's length are
        # positive. The style is checked here, not when the media role paints.
        checks = [
            (self.margin_degrees >= 0, "margin_degrees", "0 or more"),
            (self.margin_pixels >= 0, "margin_pixels", "0 or more"),
            (self.stale_moving_seconds > 0, "stale_moving_seconds", "above 0"),
            (self.stale_idle_seconds > 0, "stale_idle_seconds", "above 0"),
            (self.assumed_speed_deg_s > 0, "assumed_speed_deg_s", "above 0"),
            (self.max_lift_minutes > 0, "max_lift_minutes", "above 0"),
            (self.style in ("solid", "pixelate"), "style", "solid or pixelate"),
        ]
        for ok, key, rule in checks:
            if not ok:
                raise InvalidArgument(
                    f"[privacy_masks] {key} must be {rule}, not {getattr(self, key)!r}"
                )


#: COCO's names (the usual YOLO training set) and the usual names of face and plate
#: models, mapped to the redaction classes (docs/design/redaction.md).
DEFAULT_REDACTION_CLASSES = (
    "person=person,face=face,license_plate=plate,licence_plate=plate,plate=plate,"
    "car=vehicle,truck=vehicle,bus=vehicle,motorcycle=vehicle,bicycle=vehicle,"
    "tv=screen,laptop=screen,cell phone=screen,screen=screen,monitor=screen"
)


#: What a redaction detection may be (privacy_masks.detection.model.ObjectClass's values).
REDACTION_OBJECT_CLASSES = ("person", "face", "plate", "vehicle", "screen")


def parse_redaction_classes(text: str, where: str = "[redaction] classes") -> dict[str, str]:
    """``"model name=our class, ..."`` -> {model name: one of REDACTION_OBJECT_CLASSES}.

    Model class names may contain spaces (COCO's "cell phone"); entries are separated by
    commas. An entry without ``=``, an empty name, an unknown class of ours or a name given
    twice is an :class:`InvalidArgument` naming the entry.
    """
    table: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, ours = entry.partition("=")
        name, ours = name.strip(), ours.strip()
        if not sep or not name:
            raise InvalidArgument(f"{where}: entry {entry!r} is not 'model class=our class'")
        if ours not in REDACTION_OBJECT_CLASSES:
            raise InvalidArgument(
                f"{where}: entry {entry!r} maps to {ours!r}, which is none of "
                f"{', '.join(REDACTION_OBJECT_CLASSES)}"
            )
        if name in table:
            raise InvalidArgument(f"{where}: model class {name!r} is mapped twice")
        table[name] = ours
    return table


@dataclasses.dataclass(frozen=True)
class RedactionConfig:
    """Detection and tracking for redaction (issue 16, docs/design/redaction.md)."""

    # A YOLO .pt model file (ultralytics backend); empty: the opencv backend (Haar face
    # and plate cascades, HOG people detector, shipped with opencv-python).
    model: str = ""
    # Model class name -> person|face|plate|vehicle|screen, comma separated.
    classes: str = DEFAULT_REDACTION_CLASSES
    # Detections below this confidence are dropped (ultralytics backend).
    min_score: float = 0.25
    # The picture's longer side at inference (ultralytics backend).
    model_imgsz: int = 640
    # Frames wider than this are scaled down for detection (opencv backend).
    detect_width: int = 640
    # Run the detector on every k-th frame; tracking interpolates the frames between.
    detect_every: int = 1
    # ... but never more than this many seconds apart (a low frame rate: REL-3).
    detect_max_interval_seconds: float = 0.2
    # Frames an object may go undetected (beyond the stride) and stay covered.
    max_gap_frames: int = 5
    # Least IoU of a detection with a track's predicted box to continue that track.
    iou_threshold: float = 0.3
    # Boxes are widened by this fraction of their size on each side when painted.
    margin: float = 0.1
    # Default method: blur, pixelate or solid.
    method: str = "blur"
    # How often the jobs role looks for queued redaction jobs (seconds).
    poll_seconds: float = 5.0
    # Redaction jobs one user may have queued or running (analysis or render) at once
    # (0: no limit); one more is refused with 429. The job runs them one after another.
    max_pending_per_user: int = 5

    def __post_init__(self) -> None:
        # The class table is checked here, whichever backend runs (before, a bad table
        # failed only when a redaction with a model ran).
        parse_redaction_classes(self.classes)
        checks = [
            (self.method in ("blur", "pixelate", "solid"), "method", "blur, pixelate or solid"),
            (0 <= self.min_score <= 1, "min_score", "in [0, 1]"),
            (self.model_imgsz >= 32, "model_imgsz", "32 or more"),
            (self.detect_width >= 64, "detect_width", "64 or more"),
            (self.detect_every >= 1, "detect_every", "1 or more"),
            (self.detect_max_interval_seconds > 0, "detect_max_interval_seconds", "above 0"),
            (self.max_gap_frames >= 0, "max_gap_frames", "0 or more"),
            (0 < self.iou_threshold <= 1, "iou_threshold", "in (0, 1]"),
            (self.margin >= 0, "margin", "0 or more"),
            (self.poll_seconds > 0, "poll_seconds", "above 0"),
            (self.max_pending_per_user >= 0, "max_pending_per_user", "0 (no limit) or more"),
        ]
        for ok, key, rule in checks:
            if not ok:
                raise InvalidArgument(
                    f"[redaction] {key} must be {rule}, not {getattr(self, key)!r}"
                )


@dataclasses.dataclass(frozen=True)
class CamerasConfig:
    """ONVIF camera control (issue 4): adapter timeout, health checks, pose polling."""

    # Every ONVIF call is bounded by this (seconds); a camera that does not answer in
    # time is reported unavailable.
    command_timeout_seconds: float = 5.0
    # Hosts besides a camera's own ONVIF host that its GetStreamUri may name (comma
    # separated, e.g. a stream relay); any other answer is refused at onboarding.
    stream_hosts: str = ""
    # Health checks (OPS-1): how often each camera is probed.
    health_interval_seconds: float = 15.0
    # Pose polling: fast while moving or just after a command, slow when idle.
    pose_fast_hz: float = 20.0
    # Below [privacy_masks] stale_idle_seconds with room for the reply (INV-5).
    pose_idle_seconds: float = 1.0
    # Seconds after the last command or movement during which polling stays fast.
    pose_settle_seconds: float = 2.0
    # Pose samples kept per camera for the media pipeline (seconds of history).
    pose_history_seconds: float = 30.0
    # Pose updates pushed to browsers at most this often per camera.
    pose_publish_hz: float = 4.0

    @property
    def stream_host_list(self) -> tuple[str, ...]:
        """``stream_hosts`` as a tuple of host names (empty entries dropped)."""
        return tuple(h.strip() for h in self.stream_hosts.split(",") if h.strip())


@dataclasses.dataclass(frozen=True)
class PtzConfig:
    """PTZ sessions, arbitration and the PTZ-use report (PSCS-2, PSCS-4, INV-6)."""

    # An idle session (no command) is released after this many seconds.
    idle_release_seconds: float = 30.0
    # Take-over priorities: role=priority, comma separated; a higher priority displaces
    # a lower one, equal priority cannot take over. Roles missing here cannot take over.
    role_priorities: str = "admin=100,supervisor=80,dispatcher=50"
    # Permitted purposes of a PTZ session (PSCS-4), comma separated.
    purposes: str = "emergency,event,investigation,crime_location,maintenance,training"
    # Commands per second allowed per session (token bucket with a burst of twice this).
    commands_per_second: float = 10.0
    # The PTZ-use report counts time zoomed in beyond this zoom (0..1).
    zoomed_in_threshold: float = 0.5
    # Normal hours of PTZ use, "HH:MM-HH:MM" on the agency's clock (the top-level
    # time_zone, UTC by default); the report flags use outside them.
    allowed_hours: str = "06:00-22:00"
    # What happens to absolute/relative targets outside the software limits: "clamp"
    # (move to the nearest allowed pose) or "refuse".
    limit_mode: str = "clamp"

    def __post_init__(self) -> None:
        # Checked here, not when the PTZ plugin parses them as the services open (a
        # ValueError there) nor never (a misspelt role has no priority; PSCS-4).
        try:
            start, end = self.allowed_hours.split("-")
            for part in (start, end):
                if not re.fullmatch(r"\d\d:\d\d", part.strip()):
                    raise ValueError(part)
                dt.time.fromisoformat(part.strip())
        except ValueError:
            raise InvalidArgument(
                f"[ptz] allowed_hours: {self.allowed_hours!r} is not HH:MM-HH:MM"
            ) from None
        roles = {r.value for r in Role}
        for part in (p.strip() for p in self.role_priorities.split(",")):
            if not part:
                continue
            role, sep, value = part.partition("=")
            if not sep or not re.fullmatch(r"-?\d+", value.strip()):
                raise InvalidArgument(f"[ptz] role_priorities: {part!r} is not role=number")
            if role.strip() not in roles:
                raise InvalidArgument(
                    f"[ptz] role_priorities: {role.strip()!r} is not a role "
                    f"({', '.join(sorted(roles))})"
                )
        if not any(p.strip() for p in self.purposes.split(",")):
            raise InvalidArgument("[ptz] purposes must name at least one purpose (PSCS-4)")
        if self.limit_mode not in ("clamp", "refuse"):
            raise InvalidArgument(
                f"[ptz] limit_mode must be clamp or refuse, not {self.limit_mode!r}"
            )
