"""Log records without URL passwords, whoever logs them (#10.11).

Our code logs URLs through :func:`vms.urls.redact_credentials`, but libraries do not:
zeep logs whole SOAP replies at DEBUG (a camera's GetStreamUri may hold
``user:password@``), FFmpeg names the URL it failed on. :func:`install_redaction` wraps
the process's log record factory so that every record made anywhere has the passwords
in its message and traceback redacted before any handler sees it. It runs when a
:class:`~vms.services.Services` opens (every role, the CLI, the tests) and is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from vms.urls import redact_credentials


class _RedactingFactory:
    """A log record factory that redacts what the wrapped factory makes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        redact_record(record)
        return record


def redact_record(record: logging.LogRecord) -> None:
    """Replace ``record``'s message (and traceback text) by their redacted form when
    they hold a URL password; leave it alone otherwise."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when it is emitted
        return
    clean = redact_credentials(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        clean = redact_credentials(text)
        if clean != text:
            record.exc_text = clean  # handlers print exc_text instead of re-formatting


def install_redaction() -> None:
    """Make every log record of this process go through :func:`redact_record`."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
