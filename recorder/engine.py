"""The recording engine of the media role: one pipeline, segment writer and live preview
per camera (``services.ports`` keyed by :class:`Recorder`).

Cameras come from the camera registry (:mod:`recorder.registry`):
:meth:`Recorder.follow_registry` records its onboarded cameras and keeps following it
while running (:mod:`recorder.reconcile`: added, edited, removed cameras within
``[recorder] reconcile_seconds``); or they are added by hand with
:meth:`Recorder.add_camera`. The pose source is looked up when a masked session
starts: an explicitly set one, else the :class:`~vms.ports.PoseSource` port (the pose
tracker of ``onvif_control``); without one, masked cameras are blanked
(INV-5).
``recorder`` never imports ``onvif_control``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import statistics
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from privacy_masks.paint import PaintStyle
from privacy_masks.planning import MaskSettings
from privacy_masks.service import MaskService
from recorder.fanout import PacketHub
from recorder.keyframes import CameraKeyframes, KeyframeSettings
from recorder.live import LivePreview
from recorder.live_views import LiveViews
from recorder.ownership import Ownership
from recorder.pipeline import CameraPipeline, CameraSpec, PipelineSettings
from recorder.polls import CameraPolls
from recorder.reconcile import Plan, RegistryFollower, plan
from recorder.recording import RecordingLog
from recorder.registry import read_registry
from recorder.salvage import SpoolSalvage
from recorder.segments import SEGMENT_LIMIT_FACTOR, SegmentWriter, StopReason
from recorder.watch import Reading, WatchThread
from recorder.webrtc import WhepGateway, WhepSettings
from vms.auth.permissions import Action, Scope, scope_of
from vms.auth.sessions import Credential
from vms.camera_model import Calibration, Pose, PoseSource
from vms.db.models import Role, User
from vms.errors import Conflict, NotFound
from vms.leases import default_node_id
from vms.ports import KeyframeRequest
from vms.services import Services

log = logging.getLogger(__name__)


@dataclass
class _Camera:
    spec: CameraSpec
    hub: PacketHub
    pipeline: CameraPipeline
    writer: SegmentWriter
    preview: LivePreview


def settings_from(services: Services) -> PipelineSettings:
    cfg = services.config.recorder
    pm = services.config.privacy_masks
    return PipelineSettings(
        read_timeout_seconds=cfg.read_timeout_seconds,
        reconnect_min_seconds=cfg.reconnect_min_seconds,
        reconnect_max_seconds=cfg.reconnect_max_seconds,
        keyframe_seconds=cfg.keyframe_seconds,
        paint_style=PaintStyle(pm.style),
        mask_registration=pm.registration,
        masks=MaskSettings(
            stale_moving_seconds=pm.stale_moving_seconds,
            stale_idle_seconds=pm.stale_idle_seconds,
            latency_seconds=pm.latency_seconds,
            capture_error_seconds=pm.capture_error_seconds,
            pose_wait_seconds=pm.pose_wait_seconds,
            base_margin_deg=pm.margin_degrees,
            base_margin_px=pm.margin_pixels,
            assumed_speed_deg_s=pm.assumed_speed_deg_s,
        ),
    )


@dataclass(frozen=True)
class EngineStatus:
    """One camera's pipeline and segment writer at ``at``: the connection state
    (starting, connecting, streaming, down, stopped), whether and under which mask
    version it is masked, counters, the writer's alarm, and the mask latency (capture to
    published packet, milliseconds; None before the first masked frame)."""

    camera_id: str
    state: str
    masked: bool
    mask_version: int
    recording: bool
    segments: int
    alarm: str | None
    gap_open: bool
    last_error: str | None
    reconnects: int
    packets: int
    blanked_frames: int
    mask_latency_p95_ms: float | None
    mask_latency_median_ms: float | None
    at: dt.datetime


class Recorder:
    """Continuous recording with privacy masks for the cameras of this media engine."""

    def __init__(
        self,
        services: Services,
        masks: MaskService,
        recording: RecordingLog,
        settings: PipelineSettings | None = None,
    ) -> None:
        self.services = services
        self.masks = masks
        self.recording = recording
        self.settings = settings or settings_from(services)
        # The every-second reads of every camera's masks and recording state, one
        # transaction each for all the cameras (recorder/polls.py).
        period = self.settings.mask_reload_seconds
        self.polls = CameraPolls(
            masks.current_all,
            recording.enabled_all,
            services.clock,
            period=period,
            stale_seconds=3 * period + 2.0,
            forget_masks=masks.forget,
        )
        self.pose_source: PoseSource | None = None
        self._cameras: dict[str, _Camera] = {}
        # Cameras followed from the registry, with the spec they run with.
        self._followed: dict[str, CameraSpec] = {}
        self._lock = threading.RLock()  # add/remove/restart from the reconcile thread
        self._follower: RegistryFollower | None = None
        self.running = False
        # Camera ownership across media nodes (issue 13.1): None records every camera.
        self.ownership: Ownership | None = None
        cluster = services.config.cluster
        if cluster.camera_ownership:
            self.ownership = Ownership(
                services.db,
                services.clock,
                cluster.node_id or default_node_id(),
                dt.timedelta(seconds=cluster.camera_lease_seconds),
                capacity=cluster.capacity,
                internal_url=cluster.internal_url,
            )
        # Who may watch, and the audit entry of each view (ACC-1, ACC-6).
        web = services.config.webrtc
        # Pass-through cameras' viewers: a keyframe asked of the camera (ONVIF).
        self.keyframes = CameraKeyframes(
            lambda: services.ports.find(KeyframeRequest),
            services.clock,
            KeyframeSettings(web.camera_keyframe_requests, web.camera_keyframe_interval_seconds),
        )
        self.webrtc = WhepGateway(
            self.hub,
            self.request_keyframe,
            self._credential_ok,
            WhepSettings(
                connect_timeout_seconds=web.connect_timeout_seconds,
                recheck_seconds=services.config.web.stream_recheck_seconds,
                ice_servers=web.ice_server_list,
                ice_username=web.ice_username,
                ice_credential=web.ice_credential,
                max_sessions_per_user=web.max_sessions_per_user,
            ),
            services.clock,
        )
        self.live_views = LiveViews(
            services.db,
            services.audit,
            services.authoriser,
            self.preview,
            self.webrtc,
            mjpeg_per_user=services.config.web.max_mjpeg_streams_per_user,
        )
        # Video lost and picture blanked, for the alarms (issue 12.3).
        self.watch = WatchThread(
            self._readings,
            services.events,
            services.clock,
            lost_after=services.config.recorder.video_lost_seconds,
            blank_after=services.config.recorder.blanking_alarm_seconds,
            # Video without a keyframe to record from for as long as the writer lets a
            # segment run without one: the "no keyframes" alarm.
            keyframes_after=SEGMENT_LIMIT_FACTOR * services.config.recorder.segment_seconds,
        )

    def _readings(self) -> dict[str, Reading]:
        with self._lock:
            cameras = list(self._cameras.items())
        readings = {}
        for camera_id, camera in cameras:
            pipeline = camera.pipeline
            stage = pipeline.stage if pipeline.status.masked else None
            readings[camera_id] = Reading(
                # Every video packet, before the first keyframe too (video arrives).
                id(pipeline),
                pipeline.status.received,
                stage.blanking if stage else None,
                pipeline.status.packets,  # recorded: from a connection's first keyframe
                # Its first open ended (connected, or failed and counted).
                pipeline.status.connected_at is not None or pipeline.status.reconnects > 0,
                pipeline.status.certificate,
            )
        return readings

    def _credential_ok(self, credential: Credential | None) -> bool:
        """ACC-1 for live viewers: the credential is still valid and its user's role
        (read again) still has ``live.view``."""
        if credential is None or not self.services.users.still_valid(credential):
            return False
        with self.services.db.session() as s:
            user = s.get(User, credential.user_id)
            role = None if user is None else Role(user.role)
        return role is not None and scope_of(role, Action.LIVE_VIEW) is not Scope.NONE

    def request_keyframe(self, camera_id: str) -> None:
        """A live viewer joined or lost the picture: ask the camera's mask encoder for a
        keyframe, or, for a pass-through camera, the camera itself
        (:mod:`recorder.keyframes`; without it the viewer waits for the next GOP)."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            return
        if camera.pipeline.status.masked:
            camera.pipeline.request_keyframe()
        else:
            self.keyframes.request(camera_id)

    # -- cameras --------------------------------------------------------------------------

    def _pose(self) -> PoseSource | None:
        if self.pose_source is not None:
            return self.pose_source
        return self.services.ports.find(PoseSource)

    def add_camera(
        self, spec: CameraSpec, fence: int | None = None, taken_from: str | None = None
    ) -> None:
        """Record ``spec`` (started at once when the recorder runs); ``fence``: the
        camera lease token it is recorded under (issue 13.1; None: not fenced);
        ``taken_from``: the media node that recorded it and let its lease run out (the
        gap until this start is a ``takeover``)."""
        with self._lock:
            if spec.camera_id in self._cameras:
                raise Conflict(f"camera {spec.camera_id} is already recorded here")
            camera = self._build(spec)
            camera.writer.fence = fence
            camera.writer.taken_from = taken_from
            self._cameras[spec.camera_id] = camera
            if self.running:
                self._start(camera)
        log.info("camera %s: added to the recorder", spec.camera_id)

    def _build(self, spec: CameraSpec) -> _Camera:
        hub = PacketHub(spec.camera_id)
        clock = self.services.clock  # one clock for capture times and poses (INV-5, INV-7)
        pipeline = CameraPipeline(
            spec,
            hub,
            self.polls.masks,
            self._pose,
            self.settings,
            clock,
            # Waiting for the first keyframe of a connection: asked of the camera itself,
            # masked or not (the mask stage decodes the camera's packets from one).
            ask_keyframe=functools.partial(self.keyframes.request, spec.camera_id),
        )
        config = self.services.config
        writer = SegmentWriter(
            spec.camera_id,
            hub,
            config.data_dir / "recorder" / "spool" / spec.camera_id,
            self.services.ingestor,
            self.services.store,
            self.recording,
            self.services.events,
            clock,
            segment_seconds=config.recorder.segment_seconds,
            enabled=self.polls.enabled,
            retry_seconds=config.recorder.segment_retry_seconds,
            # A stall FFmpeg's socket timeout cannot see (a trickle): OPS-4 all the same.
            stall_seconds=config.recorder.read_timeout_seconds,
            # A segment due to end without a keyframe asks the camera (or mask encoder).
            keyframe=functools.partial(self.request_keyframe, spec.camera_id),
        )
        return _Camera(spec, hub, pipeline, writer, LivePreview(spec.camera_id, hub, clock))

    def _restart(self, spec: CameraSpec, reason: StopReason, fence: int | None) -> None:
        """Stop the camera and start it with ``spec``; it stays listed throughout."""
        self.keyframes.forget(spec.camera_id)
        with self._lock:
            old = self._cameras[spec.camera_id]
            camera = self._build(spec)
            camera.writer.fence = fence
            self._stop(old, reason)
            self._cameras[spec.camera_id] = camera
            if self.running:
                self._start(camera)

    def add_registered(self) -> list[str]:
        """Bring the recorded cameras in step with the camera registry once (ids are the
        registry's, which the pose tracker uses too). Returns the ids added."""
        return [spec.camera_id for spec in self.reconcile().add]

    def follow_registry(self) -> None:
        """Record the registry's cameras now and follow the registry while running:
        a camera added starts recording, an edited one restarts, a removed one stops,
        each within ``[recorder] reconcile_seconds`` (ARCHITECTURE.md section 1)."""
        if self._follower is None:
            interval = self.services.config.recorder.reconcile_seconds
            self._follower = RegistryFollower(self.reconcile, interval)
        self.reconcile()
        if self.running:
            self._follower.start()

    def reconcile(self) -> Plan:
        """One reconcile round with the camera registry (:mod:`recorder.reconcile`)."""
        snapshot = registered = read_registry(self.services)
        fences: dict[str, int] = {}
        if self.ownership is not None:
            # Only the cameras this node holds the lease of (issue 13.1); one it lost
            # is removed below like a camera gone from the registry.
            fences = self.ownership.round(snapshot.specs)
            snapshot = snapshot.only(fences)
        with self._lock:
            todo = plan(self._followed, set(self._cameras).difference(self._followed), snapshot)
            if todo.empty or self.ownership is None:
                self._apply(todo, registered.specs, fences)
            else:
                with self.ownership.kept():
                    self._apply(todo, registered.specs, fences)
        return todo

    def _apply(
        self, todo: Plan, registered: Mapping[str, CameraSpec], fences: dict[str, int]
    ) -> None:
        """Stop, restart and start cameras as one reconcile round planned; a camera
        starts with its lease token (``fences``) already set, so its first gap write is
        fenced too (issue 13.1, OPS-4). Called under ``self._lock``."""
        for camera_id in todo.remove:
            now = self.services.clock.now()
            if camera_id in registered:  # still registered: another node's now
                log.info("camera %s: recorded -> handed over to another node", camera_id)
                reason = StopReason("handed over", f"recorded by another media node from {now}")
            else:
                log.info("camera %s: recorded -> removed from the registry", camera_id)
                reason = StopReason("removed", "camera removed from the registry", now)
            self._followed.pop(camera_id, None)
            self.remove_camera(camera_id, reason)
            if self.ownership is not None:
                self.ownership.release(camera_id)  # stopped: the next holder may start
        if self.ownership is not None:
            for camera_id in set(self.ownership.leaving) - set(self._cameras):
                self.ownership.release(camera_id)  # given up before it ever started
        for camera_id, token in fences.items():
            if camera_id in self._cameras:
                self._cameras[camera_id].writer.fence = token
        for spec in todo.restart:
            log.info("camera %s: settings changed -> restarting", spec.camera_id)
            reason = StopReason("reconfigured", "camera settings changed")
            self._restart(spec, reason, fences.get(spec.camera_id))
            self._followed[spec.camera_id] = spec
        taken = self.ownership.taken_over if self.ownership is not None else {}
        for spec in todo.add:
            self.add_camera(spec, fences.get(spec.camera_id), taken.get(spec.camera_id))
            self._followed[spec.camera_id] = spec

    def remove_camera(self, camera_id: str, reason: StopReason | None = None) -> None:
        """Stop recording ``camera_id``: its segment in progress is finished and ingested,
        and a gap with ``reason``'s cause starts at its last packet (OPS-4)."""
        with self._lock:
            camera = self._cameras.get(camera_id)
            if camera is not None:
                self._stop(camera, reason)  # still listed (viewable) until it has stopped
            self._cameras.pop(camera_id, None)
            self._followed.pop(camera_id, None)
        self.keyframes.forget(camera_id)
        self.polls.forget(camera_id)

    def camera_ids(self) -> list[str]:
        return sorted(self._cameras)

    def owned(self) -> frozenset[str] | None:
        """The cameras whose lease this node holds, None without camera ownership (the
        :class:`~vms.ports.CameraOwnership` port: the pose tracker polls only these).
        Updated by each reconcile round before the cameras start or stop, so a camera
        taken over is polled from that round on, and its pipeline blanks until the
        first pose arrives (INV-5)."""
        if self.ownership is None:
            return None
        return frozenset(self.ownership.tokens)

    def _get(self, camera_id: str) -> _Camera:
        camera = self._cameras.get(camera_id)
        if camera is None:
            raise NotFound(f"camera {camera_id} is not recorded by this media engine")
        return camera

    def hub(self, camera_id: str) -> PacketHub:
        """The camera's encoded packets (the in-process live interface, see fanout.py)."""
        return self._get(camera_id).hub

    def preview(self, camera_id: str) -> LivePreview:
        return self._get(camera_id).preview

    def pipeline(self, camera_id: str) -> CameraPipeline:
        return self._get(camera_id).pipeline

    def writer(self, camera_id: str) -> SegmentWriter:
        return self._get(camera_id).writer

    def view(self, camera_id: str) -> tuple[Pose, Calibration, tuple[int, int]] | None:
        """Current pose, calibration and picture size (to place masks drawn on the image)."""
        camera = self._cameras.get(camera_id)
        source = self._pose()
        if camera is None or source is None:
            return None
        sample = source.latest(camera_id)
        info = camera.hub.info
        if sample is None or info is None:
            return None
        return sample.pose, camera.spec.calibration, (info.width, info.height)

    def status(self, camera_id: str) -> EngineStatus:
        """What the engine is doing with ``camera_id`` now (NotFound if not recorded)."""
        camera = self._get(camera_id)
        st = camera.pipeline.status
        stage = camera.pipeline.stage
        lat = sorted(st.latencies)
        return EngineStatus(
            camera_id=camera_id,
            state=st.state,
            masked=st.masked,
            mask_version=st.mask_version,
            recording=camera.writer.status.recording,
            segments=camera.writer.status.segments,
            alarm=camera.writer.status.alarm,
            gap_open=camera.writer.status.gap_open,
            last_error=st.last_error,
            reconnects=st.reconnects,
            packets=st.packets,
            blanked_frames=stage.stats.blanked if stage is not None else 0,
            mask_latency_p95_ms=(round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None),
            mask_latency_median_ms=round(1000 * statistics.median(lat), 1) if lat else None,
            at=self.services.clock.now(),
        )

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.polls.start()
        with self._lock:
            self.running = True
            for camera in self._cameras.values():
                self._start(camera)
            self._salvage_unrecorded()
        if self._follower is not None:
            self._follower.start()
        self.watch.start()

    def _salvage_unrecorded(self) -> None:
        """Salvage the spool a crash left for cameras not recorded here (removed from
        the registry meanwhile, or held by another media node): their video is
        catalogued or quarantined too, never left behind (procedure 5). Each file is
        fenced with the lease token it was recorded under, so footage of a lease another
        node has claimed since is quarantined, not catalogued beside that node's (5f,
        INV-9)."""
        root = self.services.config.data_dir / "recorder" / "spool"
        if not root.is_dir():
            return
        for folder in sorted(root.iterdir()):
            if folder.name in self._cameras or not any(folder.glob("*.mp4")):
                continue
            report = SpoolSalvage(
                folder.name, folder, self.services.ingestor, self.services.store, self.recording
            ).run()
            log.warning(
                "camera %s (not recorded here): %d spool files salvaged, %d quarantined",
                folder.name,
                len(report.segments),
                len(report.quarantined),
            )

    def stop(self) -> None:
        self.watch.stop()
        if self._follower is not None:
            self._follower.stop()
        self.webrtc.stop()
        with self._lock:
            self.running = False
            for camera in self._cameras.values():
                self._stop(camera)
            # After the cameras: their pipelines and writers ask for keyframes until they
            # stop, and an ask after this would start the request pool again.
            self.keyframes.stop()
            if self.ownership is not None:
                # After the last segments were catalogued: the others take over at once.
                self.ownership.release_all()
        self.polls.stop()

    @staticmethod
    def _start(camera: _Camera) -> None:
        camera.writer.start()
        camera.pipeline.start()

    @staticmethod
    def _stop(camera: _Camera, reason: StopReason | None = None) -> None:
        # The writer first: it closes its segment at the last packet it took and opens
        # the gap with this reason; then the stream stops.
        camera.writer.stop(reason=reason)
        camera.pipeline.stop()
        camera.preview.stop()


def get(services: Services) -> Recorder:
    recorder = services.ports.find(Recorder)
    if recorder is None:
        raise NotFound("the recorder is not installed in this process")
    return recorder
