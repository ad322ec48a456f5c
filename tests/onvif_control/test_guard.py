"""The guard's pure command checks: ops table, ranges, units, software limits."""

from __future__ import annotations

import pytest

from onvif_control import guard
from onvif_control.guard import BUILDERS, OPS, CommandRequest, Op, beyond_limits
from vms.camera_model import Calibration, Pose
from vms.errors import FailedPrecondition, InvalidArgument

CAL = Calibration(limit_pan_min=-90.0, limit_pan_max=90.0, limit_tilt_min=-60.0, limit_zoom_max=0.8)
HERE = Pose(0.0, -10.0, 0.1)


def parse(body, *args, **kwargs):
    """``guard.parse`` of the command value a body of these (typed) values makes."""
    values = dict(body)
    op = Op(values.pop("op"))
    return guard.parse(CommandRequest("session", op, **values), *args, **kwargs)


def test_every_op_has_a_table_entry():
    assert set(OPS) == set(Op)
    assert set(BUILDERS) == set(Op)


def test_absolute_generic_and_degrees():
    c = parse({"op": "absolute", "pan": 0.25, "tilt": 0.0, "zoom": 0.5}, CAL, HERE)
    assert c.target == CAL.from_generic(0.25, 0.0, 0.5) and not c.clamped
    d = parse({"op": "absolute", "pan": 45.0, "tilt": -20.0, "units": "degrees"}, CAL, HERE)
    assert d.target == Pose(45.0, -20.0, 0.1)
    assert d.pan == pytest.approx(0.25) and d.zoom == pytest.approx(0.1)


def test_absolute_outside_limits_is_clamped_or_refused():
    c = parse({"op": "absolute", "pan": 170.0, "zoom": 1.0, "units": "degrees"}, CAL, HERE)
    assert c.clamped and c.target == Pose(90.0, -10.0, 0.8)
    assert c.pan == pytest.approx(CAL.pan_to_generic(90.0))
    with pytest.raises(FailedPrecondition, match="outside the software limits"):
        parse({"op": "absolute", "pan": 1.0}, CAL, HERE, limit_mode="refuse")


def test_relative_is_sent_as_the_clamped_translation():
    c = parse({"op": "relative", "pan": 100.0, "units": "degrees"}, CAL, Pose(80.0, 0.0, 0.0))
    assert c.target == Pose(90.0, 0.0, 0.0) and c.clamped
    assert c.pan == pytest.approx(10.0 * 2 / 360)
    with pytest.raises(FailedPrecondition, match="pose is unknown"):
        parse({"op": "relative", "pan": 0.1}, CAL, None)


def test_continuous_is_blocked_outwards_at_a_limit():
    c = parse({"op": "continuous", "pan": 0.5, "tilt": 0.2}, CAL, Pose(90.0, 0.0, 0.0))
    assert (c.pan, c.tilt) == (0.0, 0.2) and c.clamped
    inward = parse({"op": "continuous", "pan": -0.5}, CAL, Pose(90.0, 0.0, 0.0))
    assert inward.pan == -0.5 and not inward.clamped
    assert beyond_limits(Pose(91.0, 0.0, 0.0), CAL, 0.5, 0.0, 0.0)
    assert not beyond_limits(Pose(91.0, 0.0, 0.0), CAL, -0.5, 0.0, 0.0)
    assert beyond_limits(Pose(0.0, 0.0, 0.85), CAL, 0.0, 0.0, 0.3)


def test_presets_outside_limits_are_refused():
    presets = {"far": Pose(150.0, 0.0, 0.0), "near": Pose(10.0, 0.0, 0.0)}
    ok = parse({"op": "goto_preset", "preset": "near"}, CAL, HERE, presets=presets)
    assert ok.target == presets["near"]
    with pytest.raises(FailedPrecondition, match="preset 'far'"):
        parse({"op": "goto_preset", "preset": "far"}, CAL, HERE, presets=presets)


def test_with_limits_home_and_unchecked_presets_are_refused_PSCS_1():
    """With software limits a move goes only where it was checked to go: a preset the
    camera does not list or gives no position for, and home (ONVIF gives no home pose),
    are refused; without limits there is nothing to check and they go as asked."""
    presets = {"near": Pose(10.0, 0.0, 0.0), "blind": None}
    with pytest.raises(InvalidArgument, match="preset 'gone' is not among the camera's"):
        parse({"op": "goto_preset", "preset": "gone"}, CAL, HERE, presets=presets)
    with pytest.raises(FailedPrecondition, match="no position for preset 'blind'"):
        parse({"op": "goto_preset", "preset": "blind"}, CAL, HERE, presets=presets)
    with pytest.raises(FailedPrecondition, match="home position is unknown"):
        parse({"op": "home"}, CAL, HERE)
    free = Calibration()
    assert not guard.limited(free) and guard.limited(CAL)
    assert parse({"op": "home"}, free, HERE).op is Op.HOME
    gone = parse({"op": "goto_preset", "preset": "gone"}, free, HERE, presets=presets)
    assert gone.preset == "gone" and gone.target is None  # the camera answers (NoToken)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Types, lengths and op names are the request model's (tests/web/test_ptz_schemas.py).
        ({"op": "relative", "zoom": 1.5}, "zoom 1.5 is outside -1..1"),
        ({"op": "absolute", "speed": 2}, "speed 2 is outside 0..1"),
        ({"op": "set_preset"}, "needs preset"),
        ({"op": "home", "preset": "x"}, "does not take preset"),
        ({"op": "stop", "pan": 0.0}, "does not take pan"),
        ({"op": "continuous", "timeout": 0}, "timeout 0"),
    ],
)
def test_bad_commands(body, message):
    with pytest.raises(InvalidArgument, match=message):
        parse(body, CAL, HERE)
