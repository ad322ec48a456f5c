"""A log line is one record: text from outside (a file name, a camera's answer, an
exception's message) cannot start a line of its own and so forge a record, whoever logs
it, our code or a library (vms/logs.py; the dock's own escaping, TAG-5, is one caller)."""

from __future__ import annotations

import logging

from vms.logs import install_redaction

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # vms/cli.py
FORGED = "x.mp4\n2026-12-07 12:00:00,000 WARNING vms.audit: user chief deleted case 7"


def _lines(caplog) -> list[str]:
    formatter = logging.Formatter(FORMAT)
    return [line for r in caplog.records for line in formatter.format(r).splitlines()]


def test_a_message_from_outside_cannot_start_a_log_line(caplog):
    install_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").warning("cannot read %s", FORGED)
    logging.getLogger("other.library").info(f"right-to-left {FORGED}\u202e\r\x1b[2J")
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert not any(line.startswith("2026-12-07 12:00:00") for line in lines), lines
    first, second = (r.getMessage() for r in caplog.records)
    assert first == "cannot read " + FORGED.replace("\n", "\\n")
    assert second.endswith("case 7\\u202e\\r\\x1b[2J"), second


def test_an_exception_message_from_outside_cannot_start_a_log_line(caplog):
    install_redaction()
    caplog.set_level(logging.DEBUG)
    try:
        try:
            raise ValueError(f"bad name {FORGED}")
        except ValueError as exc:
            raise RuntimeError(f"while taking {FORGED}") from exc
    except RuntimeError:
        logging.getLogger("some.library").exception("dock failed")
    lines = _lines(caplog)
    assert not any(line.startswith("2026-12-07 12:00:00") for line in lines), lines
    text = "\n".join(lines)
    # The traceback itself keeps its lines, and its messages, escaped.
    assert "Traceback (most recent call last):" in text
    assert "ValueError: bad name x.mp4\\n2026-12-07 12:00:00,000 WARNING" in text, text
    assert "RuntimeError: while taking x.mp4\\n2026-12-07" in text, text
    assert "The above exception was the direct cause" in text


def test_ordinary_records_are_left_as_they_are(caplog):
    install_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("vms.test").info("camera %s: tab\tstays %d", "cam-1", 3)
    try:
        raise OSError(2, "No such file or directory", "/srv/a\nb")
    except OSError:
        logging.getLogger("vms.test").exception("plain")
    plain, failure = caplog.records
    assert plain.getMessage() == "camera cam-1: tab\tstays 3"
    assert "FileNotFoundError: [Errno 2] No such file or directory: '/srv/a\\nb'" in (
        failure.exc_text or logging.Formatter().formatException(failure.exc_info)
    )
