"""Mask lifts (PSCS-1 exceptions, issue 14 item 6): an admin lifts one mask of one camera
for a bounded window with a stated reason; the stage leaves its private pixels visible
only inside the window, by capture time and by the clock (fail closed), and the service
records grant, early end and expiry as mask versions and audit entries.

End to end (live picture and recorded segments) in tests/recorder/test_mask_lift.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from onvif_control.simulator import SimulatedCamera
from privacy_masks.model import LiftWindow, MaskSet, NewLift, NewMask
from privacy_masks.planning import MaskSettings
from privacy_masks.service import MaskService
from privacy_masks.stage import MaskStage
from recorder.pipeline import changed
from tests.privacy_masks.conftest import vms_calibration
from tests.privacy_masks.test_stage import HOME, FixedPoses, leaked, masks_of, sim_frame
from vms.auth.permissions import Actor
from vms.camera_model import PoseSample
from vms.clock import ManualClock
from vms.db.models import AuditEntry
from vms.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
CAMERA = "cam-lift"
SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
OTHER = ((30.0, -5.0), (40.0, -5.0), (40.0, 5.0), (30.0, 5.0))


# -- the stage ------------------------------------------------------------------------------


def _lifted(camera: SimulatedCamera, starts: dt.datetime, ends: dt.datetime) -> MaskSet:
    base = masks_of(camera)
    window_index = [p.name for p in base.polygons].index("flat-3b-window")
    return MaskSet(
        base.camera_id, 2, base.polygons, (LiftWindow(window_index, "l1", starts, ends),)
    )


def _apply_at(camera: SimulatedCamera, masks: MaskSet, clock: ManualClock) -> int:
    """Leaked signature pixels of the home picture masked at the clock's instant."""
    captured = clock.now()
    still = PoseSample(HOME, captured - dt.timedelta(seconds=0.5), moving=False)
    stage = MaskStage(
        "cam", FixedPoses(still), vms_calibration(camera), MaskSettings(), clock=clock
    )
    frame = sim_frame(camera, HOME)
    assert stage.apply(frame, masks, captured) is False
    return leaked(frame)


def test_a_lifted_mask_shows_the_private_pixels_only_inside_its_window_PSCS_1(
    sim_camera: SimulatedCamera,
) -> None:
    clock = ManualClock(T0 - dt.timedelta(seconds=1))
    masks = _lifted(sim_camera, T0, T0 + dt.timedelta(minutes=5))
    assert _apply_at(sim_camera, masks, clock) == 0, "before the window: masked"
    clock.set(T0)
    assert _apply_at(sim_camera, masks, clock) > 0, "inside the window: lifted"
    clock.set(T0 + dt.timedelta(minutes=5) - dt.timedelta(milliseconds=1))
    assert _apply_at(sim_camera, masks, clock) > 0
    clock.set(T0 + dt.timedelta(minutes=5))
    assert _apply_at(sim_camera, masks, clock) == 0, "at the end: the mask is back, no reload"


def test_a_frame_stamped_inside_the_window_is_masked_once_the_clock_left_it_PSCS_1(
    sim_camera: SimulatedCamera,
) -> None:
    masks = _lifted(sim_camera, T0, T0 + dt.timedelta(minutes=5))
    clock = ManualClock(T0 + dt.timedelta(minutes=5, seconds=1))
    late = T0 + dt.timedelta(minutes=4, seconds=59)
    still = PoseSample(HOME, late - dt.timedelta(seconds=0.5), moving=False)
    frame = sim_frame(sim_camera, HOME)
    stage = MaskStage(
        "cam", FixedPoses(still), vms_calibration(sim_camera), MaskSettings(), clock=clock
    )
    stage.apply(frame, masks, late)
    assert leaked(frame) == 0
    # Without a clock the stage honours no lift at all (fail closed).
    frame = sim_frame(sim_camera, HOME)
    MaskStage("cam", FixedPoses(still), vms_calibration(sim_camera), MaskSettings()).apply(
        frame, masks, late
    )
    assert leaked(frame) == 0


# -- the service ----------------------------------------------------------------------------


@pytest.fixture
def masks(services: Services) -> MaskService:
    return services.ports.get(MaskService)


def _lift_actions(services: Services) -> list[tuple[str, str, dict[str, object]]]:
    with services.db.session() as s:
        rows = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action.startswith("mask.lift."))
            .order_by(AuditEntry.seq)
        ).scalars()
        return [(e.action, e.actor, dict(e.details)) for e in rows]


def test_a_lift_is_time_boxed_versioned_audited_and_expires_on_the_clock_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor], clock: ManualClock
) -> None:
    admin = actors["admin"]
    window = masks.create(admin, CAMERA, NewMask("window", polygon=SQUARE))
    masks.create(admin, CAMERA, NewMask("door", polygon=OTHER))
    lift = masks.lift(admin, CAMERA, NewLift(window.id, " Warrant 2026-SW-0412 ", 30))
    assert (lift.reason, lift.mask_name, lift.granted_by) == (
        "Warrant 2026-SW-0412",
        "window",
        "admin",
    )
    assert (lift.starts_at, lift.ends_at) == (clock.now(), clock.now() + dt.timedelta(minutes=30))
    assert lift.from_version == 3 and lift.to_version is None and lift.active(clock.now())

    current = masks.current(CAMERA)
    assert current.version == 3
    assert current.lifts == (LiftWindow(0, lift.id, lift.starts_at, lift.ends_at),)
    assert [p.name for p in current.in_force(clock.now(), clock.now())] == ["door"]
    with pytest.raises(FailedPrecondition, match="already lifted"):
        masks.lift(admin, CAMERA, NewLift(window.id, "warrant 2", 10))

    clock.advance(dt.timedelta(minutes=30))
    after = masks.current(CAMERA)
    assert after.lifts == () and after.version == 4, "expiry bumps the version"
    [ended] = masks.lifts(admin, CAMERA)
    assert (ended.ended_at, ended.ended_by, ended.to_version) == (
        lift.ends_at,
        "mask-lift-expiry",
        4,
    )
    actions = _lift_actions(services)
    assert [(a, who) for a, who, _ in actions] == [
        ("mask.lift.create", "admin"),
        ("mask.lift.expire", "mask-lift-expiry"),
    ]
    assert actions[0][2]["reason"] == "Warrant 2026-SW-0412" and actions[0][2]["from_version"] == 3


def test_an_admin_ends_a_lift_early_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor], clock: ManualClock
) -> None:
    admin = actors["admin"]
    window = masks.create(admin, CAMERA, NewMask("window", polygon=SQUARE))
    lift = masks.lift(admin, CAMERA, NewLift(window.id, "warrant 77", 60))
    clock.advance(dt.timedelta(minutes=5))
    ended = masks.end_lift(admin, CAMERA, lift.id)
    assert (ended.ended_at, ended.ended_by, ended.to_version) == (clock.now(), "admin", 3)
    assert masks.current(CAMERA).lifts == ()
    assert masks.lifts(actors["dispatcher"], CAMERA, running_only=True) == []
    with pytest.raises(FailedPrecondition, match="already ended"):
        masks.end_lift(admin, CAMERA, lift.id)
    with pytest.raises(NotFound):
        masks.end_lift(admin, "other-cam", lift.id)
    assert [a for a, _, _ in _lift_actions(services)] == ["mask.lift.create", "mask.lift.end"]


@pytest.mark.parametrize(
    ("reason", "minutes", "named"),
    [
        ("", 10, "reason: ''"),
        ("  x ", 10, "reason: 'x'"),
        ("----", 10, "reason: '----'"),
        ("w" * 501, 10, "reason:"),
        ("warrant 1", 0, "minutes: 0"),
        ("warrant 1", -5, "minutes: -5"),
        ("warrant 1", 1441, "minutes: 1441"),
    ],
)
def test_a_lift_needs_a_stated_reason_and_a_bounded_duration_PSCS_1(
    masks: MaskService, actors: dict[str, Actor], reason: str, minutes: float, named: str
) -> None:
    window = masks.create(actors["admin"], CAMERA, NewMask("window", polygon=SQUARE))
    with pytest.raises(InvalidArgument) as refused:
        masks.lift(actors["admin"], CAMERA, NewLift(window.id, reason, minutes))
    assert named in refused.value.message
    assert masks.current(CAMERA).lifts == () and masks.version(CAMERA) == 1


def test_only_admins_lift_and_end_PSCS_1(masks: MaskService, actors: dict[str, Actor]) -> None:
    window = masks.create(actors["admin"], CAMERA, NewMask("window", polygon=SQUARE))
    for role in ("dispatcher", "supervisor", "auditor"):
        if role not in actors:
            continue
        with pytest.raises(PermissionDenied):
            masks.lift(actors[role], CAMERA, NewLift(window.id, "warrant 1", 10))
    lift = masks.lift(actors["admin"], CAMERA, NewLift(window.id, "warrant 1", 10))
    with pytest.raises(PermissionDenied):
        masks.end_lift(actors["dispatcher"], CAMERA, lift.id)
    with pytest.raises(NotFound):
        masks.lift(actors["admin"], CAMERA, NewLift("no-such-mask", "warrant 1", 10))


def test_unreadable_lifts_fail_closed_every_mask_applies_PSCS_1(
    services: Services, masks: MaskService, actors: dict[str, Actor]
) -> None:
    window = masks.create(actors["admin"], CAMERA, NewMask("window", polygon=SQUARE))
    masks.lift(actors["admin"], CAMERA, NewLift(window.id, "warrant 9", 10))
    before = masks.current(CAMERA)
    assert before.lifts != ()
    with services.db.transaction() as s:
        s.execute(text("ALTER TABLE mask_lifts RENAME TO mask_lifts_gone"))
    current = masks.current(CAMERA)
    assert current.lifts == () and [p.name for p in current.polygons] == ["window"]
    assert current.in_force(dt.datetime.now(dt.UTC)) == current.polygons
    # The same version without the lifts: a running stream takes it at its next reload
    # all the same (the mask is painted again at once, not when the window ends), and
    # nothing changes while the lifts stay unreadable.
    assert current.version == before.version
    assert changed(before, current)
    assert not changed(current, masks.current(CAMERA))


def test_a_lift_granted_by_a_clock_that_ran_ahead_ends_when_it_is_set_back_PSCS_1_INV_7(
    services: Services, masks: MaskService, actors: dict[str, Actor], clock: ManualClock
) -> None:
    """A 30-minute lift granted while the server's clock ran an hour ahead has the window
    [+1 h, +1 h 30). Before, once the clock was set right, the mask came back at once
    (frames before the window) and was lifted again an hour later, for 30 minutes nobody
    had asked for then. Set back past the lift's start, the lift ends now, recorded like
    an early end by the expiry (audited, version bumped)."""
    admin = actors["admin"]
    right = clock.now()
    window = masks.create(admin, CAMERA, NewMask("window", polygon=SQUARE))
    clock.set(right + dt.timedelta(hours=1))  # the clock runs an hour ahead
    lift = masks.lift(admin, CAMERA, NewLift(window.id, "warrant 2026-SW-7", 30))
    assert masks.current(CAMERA).lifts
    clock.set(right + dt.timedelta(minutes=5))  # set right (five minutes after the grant)
    after = masks.current(CAMERA)
    assert after.lifts == (), "a lift that starts an hour from now is no lift"
    clock.set(right + dt.timedelta(hours=1, minutes=10))  # inside the stamped window
    later = masks.current(CAMERA)
    assert later.lifts == () and [p.name for p in later.in_force(clock.now(), clock.now())] == [
        "window"
    ]
    [ended] = masks.lifts(admin, CAMERA)
    assert ended.id == lift.id and ended.ended_by == "mask-lift-expiry"
    assert ended.ended_at == right + dt.timedelta(minutes=5)
    assert [a for a, _, _ in _lift_actions(services)] == ["mask.lift.create", "mask.lift.expire"]
