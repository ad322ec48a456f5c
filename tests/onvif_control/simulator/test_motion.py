"""The motion model is pure: every test drives it with explicit times."""

from __future__ import annotations

import pytest

from onvif_control.simulator.calibration import Calibration, Pose
from onvif_control.simulator.motion import MotionModel, Speed

CAL = Calibration(max_pan_speed=90.0, max_tilt_speed=60.0, max_zoom_speed=0.5)
HOME = Pose(0.0, -10.0, 0.0)


def model(t: float = 100.0) -> MotionModel:
    return MotionModel(CAL, HOME, t)


def test_idle_model_stays_put():
    m = model()
    assert m.pose(100.0) == HOME
    assert m.pose(1000.0) == HOME
    status = m.status(1000.0)
    assert not status.pan_tilt_moving and not status.zoom_moving


def test_continuous_move_integrates_until_timeout():
    m = model()
    m.continuous(100.0, pan=0.5, tilt=None, zoom=None, timeout=2.0)
    assert m.pose(101.0).pan == pytest.approx(45.0)
    assert m.status(101.0).pan_tilt_moving
    assert m.pose(102.0).pan == pytest.approx(90.0)
    assert m.pose(110.0).pan == pytest.approx(90.0)  # Timeout stopped it
    assert not m.status(102.5).pan_tilt_moving
    assert m.pose(110.0).tilt == HOME.tilt  # other axes untouched


def test_continuous_move_stops_at_limits():
    m = model()
    m.continuous(100.0, pan=None, tilt=1.0, zoom=-1.0, timeout=None)
    assert m.pose(100.5).tilt == pytest.approx(20.0)  # -10 + 60 * 0.5 = 20 = limit
    assert m.pose(130.0).tilt == pytest.approx(CAL.tilt_max)
    assert m.pose(130.0).zoom == 0.0
    assert not m.status(130.0).pan_tilt_moving
    assert not m.status(100.1).zoom_moving  # already at zoom 0


def test_absolute_move_travels_at_speed_not_jumps():
    m = model()
    m.absolute(100.0, Pose(45.0, -40.0, 0.25), Speed(pan=1.0, tilt=0.5, zoom=1.0))
    halfway = m.pose(100.25)
    assert halfway.pan == pytest.approx(22.5)
    assert halfway.tilt == pytest.approx(-17.5)  # 30 deg/s
    assert halfway.zoom == pytest.approx(0.125)
    assert m.status(100.25).pan_tilt_moving and m.status(100.25).zoom_moving
    assert m.pose(100.5).pan == pytest.approx(45.0)
    assert m.status(100.6).pan_tilt_moving  # tilt still travelling (1 s needed)
    assert not m.status(100.6).zoom_moving
    assert m.pose(101.0) == Pose(45.0, -40.0, 0.25)
    assert not m.status(101.0).pan_tilt_moving


def test_absolute_move_rejects_targets_outside_ranges():
    m = model()
    with pytest.raises(ValueError, match="outside"):
        m.absolute(100.0, Pose(0.0, 30.0, 0.0))
    with pytest.raises(ValueError, match="outside"):
        m.absolute(100.0, Pose(0.0, 0.0, 1.5))
    assert m.pose(200.0) == HOME


def test_absolute_move_can_leave_zoom_alone():
    m = model()
    m.continuous(100.0, zoom=1.0, timeout=None)
    m.absolute(101.0, Pose(10.0, -10.0, 0.0), zoom=False)
    assert m.pose(102.0).zoom == pytest.approx(1.0)  # zoom move continued
    assert m.pose(102.0).pan == pytest.approx(10.0)


def test_relative_move_is_clamped_at_limits():
    m = model()
    m.relative(100.0, pan=30.0, tilt=-200.0, zoom=0.25)
    assert m.pose(200.0) == Pose(30.0, -90.0, 0.25)


def test_new_command_starts_from_current_position():
    m = model()
    m.continuous(100.0, pan=1.0, timeout=None)
    m.absolute(101.0, Pose(0.0, -10.0, 0.0))  # from pan 90 back to 0 at 90 deg/s
    assert m.pose(101.5).pan == pytest.approx(45.0)


def test_stop_freezes_selected_axes():
    m = model()
    m.continuous(100.0, pan=1.0, tilt=None, zoom=1.0, timeout=None)
    m.stop(101.0, pan_tilt=True, zoom=False)
    assert m.pose(105.0).pan == pytest.approx(90.0)
    assert m.status(101.5).zoom_moving
    m.stop(102.0)
    assert m.pose(110.0).zoom == pytest.approx(1.0)
    assert not m.status(110.0).zoom_moving


@pytest.mark.parametrize("bad", [1.5, -1.01, float("nan"), float("inf")])
def test_velocity_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        model().continuous(100.0, pan=bad, timeout=1.0)


@pytest.mark.parametrize("speed", [Speed(pan=0.0), Speed(zoom=1.5), Speed(tilt=-0.1)])
def test_bad_speed_is_refused(speed):
    with pytest.raises(ValueError, match="speed"):
        model().absolute(100.0, Pose(1.0, 0.0, 0.0), speed)


def test_negative_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout"):
        model().continuous(100.0, pan=0.1, timeout=-1.0)


def test_start_pose_is_clamped():
    assert MotionModel(CAL, Pose(0.0, 80.0, 3.0), 0.0).pose(0.0) == Pose(0.0, 20.0, 1.0)
