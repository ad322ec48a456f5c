"""The PTZ engine's tables (onvif_control/engine.py): every op is sent and tracked."""

from __future__ import annotations

from onvif_control.engine import HANDLERS, TRACKING
from onvif_control.guard import Op


def test_every_op_has_a_handler_and_tells_the_tracker_INV_5():
    assert set(HANDLERS) == set(Op)
    assert set(TRACKING) == set(Op)
