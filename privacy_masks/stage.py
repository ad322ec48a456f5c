"""The mask stage of a masked camera's pipeline: pose -> plan -> raster -> paint.

INV-5, fail closed: no pose, a stale pose, an unreachable control channel (the pose
source then stops producing fresh samples, so the pose goes stale), or *any* exception
here blanks the whole frame; the failure is logged (once per change of reason) and
counted, never swallowed.

PSCS-1 exceptions: a mask lifted (``MaskSet.lifts``) is left unpainted only on frames
captured inside the lift's window while the clock is inside it too, so a lift ends on
time with no reload or restart (and a frame stamped inside a window that the clock has
left is masked).

Cost: projecting and rasterising the masks is most of a frame's work, so the last
projection is kept, prepared for painting, and reused while everything it was made from
is unchanged: the plan (anchor poses and margins: a still camera's plan is the same
frame after frame), the polygons in force (which the mask version and the lifts decide:
a lift's start and end change them, so a lift still ends on time), the calibration and
the frame size. Only a non-blank plan reaches the cache: no pose, a stale pose or an
error blank the frame before it (INV-5).

A still camera's plan is held, not made again every frame: the plan of a frame whose
samples are all observed, at rest and at one pose is the same for every later frame
until :func:`~privacy_masks.planning.still_until` (proven there, checked against the
planner by a property test), as long as the pose source has no newer sample: its
``latest`` is still the very sample the plan was made with (a source only ever adds
samples after its newest, ``PoseSource``). Held frames are painted with the kept
projection, with no pose history read, no plan and no projection key built; anything
else (a new sample, a frame out of the held span, a new mask set, lifts, another frame
size) plans the frame in full.

While the camera moves, the picture may narrow the plan (issue 12 item 4,
:mod:`privacy_masks.registrar`): the frame's thumbnail is read before anything is
painted, and the mask painted is the narrowed plan's mask AND the telemetry plan's, so
it never leaves the telemetry mask; a blank plan is decided before and stays blank.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from privacy_masks.geometry import SpherePolygon
from privacy_masks.model import MaskSet
from privacy_masks.paint import (
    BoxBuffers,
    PaintStyle,
    Planes,
    PreparedMask,
    Saved,
    blank,
    frame_planes,
    paint,
    prepare,
    restore,
    save_and_paint,
    save_and_paint_frame,
)
from privacy_masks.planning import (
    MaskPlan,
    MaskSettings,
    awaiting_pose,
    mask_for_frame,
    plan_masks,
    read_after,
    still_until,
)
from privacy_masks.registrar import Registrar
from privacy_masks.registration import RegistrationSettings, thumbnail
from vms.camera_model import Calibration, PoseSample, PoseSource
from vms.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class MaskStats:
    frames: int = 0
    blanked: int = 0
    masked_pixels: int = 0
    errors: int = 0
    seconds: float = 0.0  # wall time in the stage (waits for the GIL and a core included)
    cpu_seconds: float = 0.0  # CPU time of the pipeline thread in the stage: its cost
    # Frames painted with the kept projection (no projection, no raster).
    reused: int = 0
    # Moving frames masked with the plan narrowed by image registration (item 8), and the
    # CPU time of thumbnails + registration (included in cpu_seconds).
    registered: int = 0
    registration_cpu_seconds: float = 0.0
    # Frames of a moving camera that waited for a pose read after them, and how long
    # (wall seconds, item 5: bounded by two readings instead of extrapolated).
    waited: int = 0
    wait_seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _ProjectionKey:
    """What a frame's mask is made from (``mask_for_frame``'s arguments), and the mask
    version (the polygons decide the raster; the version is there so that no change of
    masks, even one to equal polygons, is ever answered from before it)."""

    version: int
    plan: MaskPlan
    polygons: tuple[SpherePolygon, ...]
    calibration: Calibration
    size: tuple[int, int]


@dataclass(frozen=True)
class _Held:
    """A still camera's plan, held (module doc): for frames captured from ``since`` to
    ``until`` while the pose source's newest sample is ``latest`` (the same object),
    the mask set is ``masks`` (the same object, with no lifts) and the frame ``size``."""

    latest: PoseSample
    masks: MaskSet
    size: tuple[int, int]
    since: dt.datetime
    until: dt.datetime
    plan: MaskPlan
    prepared: PreparedMask


class MaskStage:
    """Paints a camera's masks on each decoded frame, in place."""

    def __init__(
        self,
        camera_id: str,
        pose_source: PoseSource | None,
        calibration: Calibration,
        settings: MaskSettings,
        style: PaintStyle = PaintStyle.SOLID,
        clock: Clock | None = None,
        registration: RegistrationSettings | None = None,
    ) -> None:
        """``registration``: the settings of the image registration that narrows
        moving plans (item 8; None: the defaults). :meth:`disable_registration` turns it
        off (the benchmark compares the two)."""
        self.camera_id = camera_id
        self.pose_source = pose_source
        self.calibration = calibration
        self.settings = settings
        self.style = style
        self.clock = clock
        self.stats = MaskStats()
        self._last_reason = ""
        # Why the last frame was blanked whole, None when it was masked (the recorder's
        # watch raises the blanking alarm from it, issue 12.3).
        self.blanking: str | None = None
        self._kept_key: _ProjectionKey | None = None
        self._kept: PreparedMask | None = None
        # The mask painted on the last frame (None: blanked), for tests and benchmarks.
        self.painted: PreparedMask | None = None
        # The samples await_pose() read for a frame it did not wait for, which apply()
        # plans that frame from (one read of the pose source per frame, not two).
        self._fetched: tuple[dt.datetime, PoseSample | None, list[PoseSample]] | None = None
        self.registrar: Registrar | None = Registrar(
            calibration, registration or RegistrationSettings()
        )
        # A still camera's plan, held (module doc), and the capture instant await_pose()
        # found it holding for (apply() then does not ask the pose source again).
        self._held: _Held | None = None
        self._held_for: dt.datetime | None = None
        # The box buffers of the last paint, back from put_back() (None while a painted
        # frame is out: a paint before its put_back gets buffers of its own).
        self._spare: BoxBuffers | None = None

    def disable_registration(self) -> None:
        """Mask with the telemetry plan only (the comparison in bench_overmask)."""
        self.registrar = None

    def await_pose(self, captured: dt.datetime, poll_seconds: float = 0.005) -> float:
        """Before :meth:`apply`: while the camera may be moving and no pose reading after
        the frame's capture has arrived, wait for one, until ``pose_wait_seconds`` after
        the capture (by the clock; with a clock that does not advance, at most as many
        polls as fit in that time). Returns the clock's seconds waited. Blocks: the
        pipeline's thread calls it, never an event loop. Waiting only narrows the plan (a
        reading after the frame bounds it between two readings); it never decides
        blanking, which :meth:`apply` does from whatever has arrived (INV-5). Without a
        clock it does not wait, nor when the pose source fails (:meth:`apply` then
        blanks the frame)."""
        try:
            return self._await_pose(captured, poll_seconds)
        except Exception:
            log.exception("camera %s: waiting for the pose failed", self.camera_id)
            return 0.0

    def _await_pose(self, captured: dt.datetime, poll_seconds: float) -> float:
        budget = self.settings.pose_wait_seconds
        if budget <= 0 or self.pose_source is None or self.clock is None:
            return 0.0
        self._fetched = None
        if self._holds(captured, self.pose_source):
            # Still: nothing to wait for (still_until's proof: no motion, no command).
            self._held_for = captured
            return 0.0
        latest, history = self._poses(self.pose_source, captured)
        if not awaiting_pose(captured, latest, history, self.settings):
            # Nothing to wait for: apply() plans from these very samples.
            self._fetched = (captured, latest, history)
            return 0.0
        start = self.clock.monotonic()
        left = min(budget, budget - (self.clock.now() - captured).total_seconds())
        for _ in range(max(0, math.ceil(left / poll_seconds))):
            time.sleep(poll_seconds)
            latest = self.pose_source.latest(self.camera_id)
            if latest is not None and read_after(latest, captured, self.settings):
                break
            if self.clock.monotonic() - start >= left:
                break
        waited = self.clock.monotonic() - start
        self.stats.waited += 1
        self.stats.wait_seconds += waited
        return waited

    def apply(self, frame: Any, masks: MaskSet, captured: dt.datetime) -> bool:
        """Mask ``frame`` (a writable yuv420p PyAV frame) captured at ``captured``.
        Returns True when the whole frame was blanked."""
        t0, c0 = time.perf_counter(), time.thread_time()
        self.stats.frames += 1
        try:
            planes = frame_planes(frame)
            prepared, reason = self._held_mask(
                lambda: planes.y, frame, masks, captured
            ) or self._decide(planes, frame, masks, captured)
            self._paint(planes, prepared)
        except Exception:
            prepared, reason = self._failed()
            blank(frame_planes(frame))
        self._count(prepared, reason, t0, c0)
        return prepared is None

    @contextlib.contextmanager
    def painted_on(self, frame: Any, masks: MaskSet, captured: dt.datetime) -> Iterator[Any]:
        """:meth:`apply` for a frame the decoder still holds as a reference picture
        (``Decoder(writable=False)``): yields the picture to encode and, when the block
        ends, puts back the pixels the mask covered, so that the pictures decoded from
        this one next are the camera's (tests/privacy_masks/test_stage.py proves them
        bit-identical). :meth:`paint_for_encode` and :meth:`put_back`, the two halves,
        are what the pipeline calls (no generator a frame)."""
        saved = self.paint_for_encode(frame, masks, captured)
        try:
            yield frame
        finally:
            self.put_back(saved)

    def mask_for_encode(self, frame: Any, masks: MaskSet, captured: dt.datetime) -> Saved | None:
        """What the pipeline calls for every frame: :meth:`await_pose`, then
        :meth:`paint_for_encode`. A frame the held plan holds for (a still camera's
        every frame: module doc), painted solid with no registrar, takes a path of its
        own: the checks of both calls in one expression, then the paint. It paints what
        :meth:`paint_for_encode` paints and counts it alike (tests/privacy_masks/
        test_stage_cache.py). Per-frame Python runs with caches the codecs have just
        emptied, where each call costs several times its hot figure; what this saves
        (one method call a frame instead of five) is small beside the paint's numpy work
        (bench/README.md, session 21)."""
        held = self._held
        try:
            holds = (
                held is not None
                and masks is held.masks
                and self.registrar is None
                and self.style is PaintStyle.SOLID
                and held.since <= captured <= held.until
                and (frame.width, frame.height) == held.size
                and self.pose_source is not None
                and self.pose_source.latest(self.camera_id) is held.latest
            )
        except Exception:
            # The full path reads the pose source again and blanks the frame (INV-5).
            holds = False
        if not holds or held is None:
            self.await_pose(captured)
            return self.paint_for_encode(frame, masks, captured)
        t0, c0 = time.perf_counter(), time.thread_time()
        self.stats.frames += 1
        self.stats.reused += 1
        buffers, self._spare = self._spare, None
        prepared: PreparedMask | None = held.prepared
        try:
            saved, pixels = save_and_paint_frame(frame, held.prepared, buffers=buffers)
            self.stats.masked_pixels += pixels
            reason = held.plan.reason
        except Exception:  # nothing is left half painted (save_and_paint_frame)
            saved, (prepared, reason) = None, self._blanked_instead(frame)
        self._count(prepared, reason, t0, c0)
        return saved

    def paint_for_encode(self, frame: Any, masks: MaskSet, captured: dt.datetime) -> Saved | None:
        """Paint ``frame`` (the decoder's own picture) for the encoder, as :meth:`apply`
        masks (INV-5); returns what :meth:`put_back` needs once the picture is encoded
        (the encoder copies it: libx264 does, on ``encode``). Only the mask's box is
        copied, twice, instead of the whole frame (``make_writable``), the copy that
        bench_recorder measured. A frame to blank, and any style but a solid fill, is
        painted on a copy of the frame instead (``make_writable``: PyAV gives the frame
        a buffer of its own), which leaves the decoder's picture untouched: nothing to
        put back. A held plan's frame has its box cut straight from the plane buffers
        (``save_and_paint_frame``): no views of the whole planes."""
        t0, c0 = time.perf_counter(), time.thread_time()
        self.stats.frames += 1
        saved: Saved | None = None
        prepared: PreparedMask | None
        buffers, self._spare = self._spare, None
        try:
            held = self._held_mask(lambda: frame_planes(frame).y, frame, masks, captured)
            if held is not None and self.style is PaintStyle.SOLID:
                prepared, reason = held
                saved, pixels = save_and_paint_frame(frame, prepared, buffers=buffers)
                self.stats.masked_pixels += pixels
            else:
                planes = frame_planes(frame)
                prepared, reason = held or self._decide(planes, frame, masks, captured)
                if prepared is not None and self.style is PaintStyle.SOLID:
                    saved, pixels = save_and_paint(planes, prepared, buffers=buffers)
                    self.stats.masked_pixels += pixels
                else:
                    frame.make_writable()
                    self._paint(frame_planes(frame), prepared)
        except Exception:
            restore(saved)
            saved = None
            prepared, reason = self._blanked_instead(frame)
        self._count(prepared, reason, t0, c0)
        return saved

    def _blanked_instead(self, frame: Any) -> tuple[None, str]:
        """INV-5: the frame to encode blanked whole, on a copy (the decoder's picture is
        left as decoded), after a failure."""
        failed = self._failed()
        frame.make_writable()
        blank(frame_planes(frame))
        return failed

    def put_back(self, saved: Saved | None) -> None:
        """Put back what :meth:`paint_for_encode` painted over (after the encode)."""
        if saved is not None:
            c1 = time.thread_time()
            restore(saved)
            self._spare = saved.buffers  # restored: the next paint may fill them
            self.stats.cpu_seconds += time.thread_time() - c1

    def _paint(self, planes: Planes, prepared: PreparedMask | None) -> None:
        """Blank the whole picture (None) or paint ``prepared`` on it."""
        if prepared is None:
            blank(planes)
        else:
            self.stats.masked_pixels += paint(planes, prepared, self.style)

    def _failed(self) -> tuple[None, str]:
        # INV-5: any failure of the mask stage blanks the frame (and nothing stays held).
        self._held = self._held_for = None
        self.stats.errors += 1
        log.exception("camera %s: mask stage failed; frame blanked (INV-5)", self.camera_id)
        return None, "mask stage error"

    def _count(self, prepared: PreparedMask | None, reason: str, t0: float, c0: float) -> None:
        blanked = prepared is None
        self.painted = prepared
        if blanked:
            self.stats.blanked += 1
            self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        self.blanking = reason if blanked else None
        self._note(reason if blanked else "masking")
        self.stats.seconds += time.perf_counter() - t0
        self.stats.cpu_seconds += time.thread_time() - c0

    def _decide(
        self, planes: Planes, frame: Any, masks: MaskSet, captured: dt.datetime
    ) -> tuple[PreparedMask | None, str]:
        """The mask to paint on ``frame`` (None: blank it whole) and why; reads the
        picture (registration) but writes nothing."""
        self._held = self._held_for = None
        if self.pose_source is None:
            return None, "no pose source (INV-5)"
        fetched, self._fetched = self._fetched, None
        if fetched is not None and fetched[0] == captured:
            latest, history = fetched[1], fetched[2]
        else:
            latest, history = self._poses(self.pose_source, captured)
        plan = plan_masks(captured, latest, history, self.settings)
        if plan.blank:
            return None, plan.reason
        size = (int(frame.width), int(frame.height))
        # Item 8: the picture may narrow a moving plan (read before anything is painted).
        narrowed = self._narrowed(lambda: planes.y, plan, size)
        # PSCS-1: lifted masks are left out inside their window only (by capture time
        # and by the clock; without a clock no lift is honoured: fail closed).
        polygons = (
            masks.in_force(captured, self.clock.now()) if self.clock is not None else masks.polygons
        )
        prepared = self._projection(masks.version, polygons, plan, size)
        if narrowed is not None:
            # INV-5: the narrowed plan's mask AND the telemetry plan's, a subset of the
            # telemetry mask: the picture narrows it, never moves it elsewhere
            # (docs/design/mask-geometry.md, item 8).
            mask = mask_for_frame(polygons, narrowed, self.calibration, size)
            if mask is None:  # pragma: no cover - a narrowed plan is never blank
                raise ValueError("a blank narrowed plan")
            prepared = prepare(mask & prepared.mask)
            self.stats.registered += 1
        elif not masks.lifts and latest is not None:
            until = still_until(plan, captured, latest, history, self.settings)
            if until is not None:
                self._held = _Held(latest, masks, size, captured, until, plan, prepared)
        return prepared, plan.reason

    def _holds(self, captured: dt.datetime, source: PoseSource) -> bool:
        """Whether the held plan holds for a frame captured at ``captured`` by the pose
        (its frame size and mask set are checked by :meth:`_held_mask`)."""
        held = self._held
        return (
            held is not None
            and held.since <= captured <= held.until
            and source.latest(self.camera_id) is held.latest
        )

    def _held_mask(
        self, luma: Callable[[], Any], frame: Any, masks: MaskSet, captured: dt.datetime
    ) -> tuple[PreparedMask, str] | None:
        """The held plan's mask for this frame, or None: plan it in full. ``luma``
        gives the frame's luma plane, for the registrar (when it renews its
        reference)."""
        held, checked, self._held_for = self._held, self._held_for, None
        if held is None or self.pose_source is None or masks is not held.masks:
            return None
        if (int(frame.width), int(frame.height)) != held.size:
            return None
        if checked != captured and not self._holds(captured, self.pose_source):
            return None
        if self.registrar is not None:
            # The registrar keeps its still reference fresh (an exact still plan is
            # never narrowed: what it returns is None).
            self._narrowed(luma, held.plan, held.size)
        self.stats.reused += 1
        return held.prepared, held.plan.reason

    def _poses(
        self, source: PoseSource, captured: dt.datetime
    ) -> tuple[PoseSample | None, list[PoseSample]]:
        """The newest pose sample and the history a plan for a frame captured at
        ``captured`` needs (none without a newest sample)."""
        latest = source.latest(self.camera_id)
        since = captured - dt.timedelta(seconds=self.settings.history_seconds)
        return latest, (source.history(self.camera_id, since) if latest is not None else [])

    def _narrowed(
        self, luma: Callable[[], Any], plan: MaskPlan, size: tuple[int, int]
    ) -> MaskPlan | None:
        registrar = self.registrar
        if registrar is None:
            return None
        if not plan.moving:
            # A still plan: the registrar at most renews its still reference, once in
            # many frames; the clock is read only when it takes the thumbnail for it.
            started: list[float] = []

            def thumb() -> Any:
                started.append(time.thread_time())
                return thumbnail(luma(), registrar.settings.thumb_width)

            try:
                return registrar.observe(plan, size, thumb)
            finally:
                if started:
                    self.stats.registration_cpu_seconds += time.thread_time() - started[0]
        c0 = time.thread_time()
        try:
            width = registrar.settings.thumb_width
            return registrar.observe(plan, size, lambda: thumbnail(luma(), width))
        finally:
            self.stats.registration_cpu_seconds += time.thread_time() - c0

    def _projection(
        self,
        version: int,
        polygons: tuple[SpherePolygon, ...],
        plan: MaskPlan,
        size: tuple[int, int],
    ) -> PreparedMask:
        """The plan's mask, prepared; reused while its key is unchanged (module doc).
        Keys compare by value: the plan's poses and margins exactly (a pose that moved by
        any amount projects again), the polygons in force by their vertices."""
        key = _ProjectionKey(version, plan, polygons, self.calibration, size)
        if self._kept is not None and key == self._kept_key:
            self.stats.reused += 1
            return self._kept
        # Forget first: a failure below must not leave an older projection in use.
        self._kept_key = self._kept = None
        mask = mask_for_frame(polygons, plan, self.calibration, size)
        if mask is None:  # pragma: no cover - plan.blank is handled before
            raise ValueError("a blank plan reached the projection")
        prepared = prepare(mask)
        self._kept_key, self._kept = key, prepared
        return prepared

    def _note(self, reason: str) -> None:
        if reason != self._last_reason:
            log.info(
                "camera %s: mask stage %s -> %s",
                self.camera_id,
                self._last_reason or "start",
                reason,
            )
            self._last_reason = reason
