"""OutageLog (vms/outage_log.py): an outage's first failure logged, the rest of it quiet,
one line when it ends; every record the caller's (logger, level, message, line)."""

from __future__ import annotations

import logging

import pytest

from vms.outage_log import OutageLog

log = logging.getLogger("tests.outage_log")


def records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, bool]]:
    """(level, message, with a traceback) of each record, in order."""
    return [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]


def test_an_outage_is_logged_at_its_first_failure_and_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = OutageLog(log)
    schedule = [True, False, False, True, True, False, True, False, True]  # True: works
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for round_, works in enumerate(schedule, 1):
            if works:
                outage.works("round %d: works again", round_)
                continue
            try:
                raise OSError(f"away at round {round_}")
            except OSError:
                outage.failed("round %d: failed", round_)
    assert records(caplog) == [
        ("ERROR", "round 2: failed", True),
        ("WARNING", "round 4: works again", False),
        ("ERROR", "round 6: failed", True),
        ("WARNING", "round 7: works again", False),
        ("ERROR", "round 8: failed", True),
        ("WARNING", "round 9: works again", False),
    ]
    # The first failure's traceback is the exception being handled.
    exc_info = caplog.records[0].exc_info
    assert exc_info is not None and str(exc_info[1]) == "away at round 2"


def test_levels_can_be_chosen_and_the_traceback_left_out(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        outage.failed("unknown: %s", "no reply", level=logging.WARNING, traceback=False)
        outage.failed("unknown: %s", "no reply", level=logging.WARNING, traceback=False)
        assert outage.failing()
        outage.works("known again", level=logging.INFO)
        assert not outage.failing()
    assert records(caplog) == [
        ("WARNING", "unknown: no reply", False),
        ("INFO", "known again", False),
    ]


def test_keys_fail_and_recover_apart(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        outage.failed("%s failed", "a", key="a", traceback=False)
        outage.failed("%s failed", "b", key="b", traceback=False)
        outage.failed("%s failed", "a", key="a", traceback=False)
        outage.works("%s again", "b", key="b")
        outage.works("%s again", "b", key="b")
        outage.works("%s again", "c", key="c")  # never failed: nothing to say
        assert outage.failing("a") and not outage.failing("b") and not outage.failing()
    assert [m for _, m, _ in records(caplog)] == ["a failed", "b failed", "b again"]


def test_a_record_names_the_callers_logger_and_line(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        outage.failed("failed", traceback=False)
    (record,) = caplog.records
    assert record.name == "tests.outage_log"
    assert record.pathname == __file__
    assert record.funcName == "test_a_record_names_the_callers_logger_and_line"


def test_a_forgotten_key_leaves_nothing_and_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        outage.failed("%s failed", "a", key="a", traceback=False)
        outage.forget("a")  # e.g. the camera was deleted during its outage
        outage.works("%s again", "a", key="a")
        assert not outage.failing("a")
        outage.failed("%s failed", "a", key="a", traceback=False)  # a new outage
    assert [m for _, m, _ in records(caplog)] == ["a failed", "a failed"]
