"""Log records without URL passwords, one line each, whoever logs them (#10.11).

Our code logs URLs through :func:`vms.urls.redact_credentials`, but libraries do not:
zeep logs whole SOAP replies at DEBUG (a camera's GetStreamUri may hold
``user:password@``), FFmpeg names the URL it failed on. :func:`install_redaction` wraps
the process's log record factory so that every record made anywhere has the passwords
in its message and traceback redacted before any handler sees it. It runs when a
:class:`~vms.services.Services` opens (every role, the CLI, the tests) and is idempotent.

The same factory writes every control or format character of a message (a newline, a
carriage return, a terminal escape, a right-to-left override; a tab stays) as Python
escapes it, and so the message of every exception in a traceback: text from outside (a
file name on a docked device, a camera's answer, a library's error about either) cannot
start a line that reads as a record of its own (tests/security/test_log_lines.py). Our
own callers escape the names they log too (:func:`vms.filenames.escaped`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
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


def one_line(text: str) -> str:
    """``text`` with every control or format character but the tab written as Python
    escapes it (``\\n``, ``\\u202e``)."""
    if text.isprintable():  # nearly every record: one pass in C
        return text
    return "".join(c if c.isprintable() or c == "\t" else ascii(c)[1:-1] for c in text)


def _messages(exc: BaseException | None) -> Iterator[str]:
    """The lines that print the messages (``Type: message``) and notes of ``exc`` and of
    the exceptions it was raised from or while handling, as a traceback prints them."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        with contextlib.suppress(Exception):  # a broken __str__: the traceback says so
            yield f"{type(exc).__qualname__}: {exc}"
        for note in getattr(exc, "__notes__", None) or ():
            if isinstance(note, str):
                yield note
        exc = exc.__cause__ or exc.__context__


def redact_record(record: logging.LogRecord) -> None:
    """Replace ``record``'s message (and traceback text) by their redacted form when
    they hold a URL password, with any control character escaped (one line per record,
    and the traceback's own lines only); leave it alone otherwise."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when it is emitted
        return
    clean = one_line(redact_credentials(message))
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        clean = text
        for raw in _messages(record.exc_info[1]):
            if one_line(raw) != raw:
                clean = clean.replace(raw, one_line(raw))
        clean = redact_credentials(clean)
        if clean != text:
            record.exc_text = clean  # handlers print exc_text instead of re-formatting


def install_redaction() -> None:
    """Make every log record of this process go through :func:`redact_record`."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
