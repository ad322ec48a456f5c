"""Calibration: generic spaces <-> degrees, zoom -> field of view."""

from __future__ import annotations

import pytest

from onvif_control.simulator.calibration import Calibration, Pose


def test_generic_mapping_round_trips():
    cal = Calibration()
    assert cal.pan_to_degrees(-1.0) == -180.0
    assert cal.pan_to_degrees(1.0) == 180.0
    assert cal.tilt_to_degrees(-1.0) == -90.0
    assert cal.tilt_to_degrees(1.0) == 20.0
    for x in (-1.0, -0.3, 0.0, 0.77, 1.0):
        assert cal.pan_to_generic(cal.pan_to_degrees(x)) == pytest.approx(x)
        assert cal.tilt_to_generic(cal.tilt_to_degrees(x)) == pytest.approx(x)


def test_zoom_maps_to_field_of_view_through_a_linear_focal_length():
    cal = Calibration(hfov_wide=60.0, hfov_tele=6.0)
    assert cal.hfov(0.0) == pytest.approx(60.0)
    assert cal.hfov(1.0) == pytest.approx(6.0)
    f0, f1, fh = cal.focal_px(0.0, 1000), cal.focal_px(1.0, 1000), cal.focal_px(0.5, 1000)
    assert fh == pytest.approx((f0 + f1) / 2)


def test_clamp_and_contains():
    cal = Calibration()
    assert cal.contains(Pose(0.0, 0.0, 0.5))
    assert not cal.contains(Pose(0.0, 25.0, 0.5))
    assert cal.clamp(Pose(200.0, -100.0, -1.0)) == Pose(180.0, -90.0, 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pan_min": 10.0, "pan_max": 0.0},
        {"tilt_max": 95.0},
        {"hfov_tele": 70.0},
        {"max_pan_speed": 0.0},
    ],
)
def test_invalid_calibration_is_refused(kwargs):
    with pytest.raises(ValueError):
        Calibration(**kwargs)
