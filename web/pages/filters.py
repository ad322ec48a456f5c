"""Template filters of the pages: times, sizes, durations, source names, sentences."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from vms.clock import parse_iso

SOURCE_NAMES = {
    "fixed": "Fixed camera",
    "bwc": "Body-worn camera",
    "dash": "Dash camera",
    "handheld": "Handheld",
    "export": "Export",
    "redacted": "Redacted copy",
}


def when(value: str | dt.datetime | None) -> str:
    """An ISO 8601 UTC time (or an aware datetime) as ``2026-11-21 22:15:03`` (the pages
    say "UTC" in headings)."""
    if not value:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    try:
        moment = parse_iso(value, field="time")
    except ValueError:
        return value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def human_bytes(value: int | None) -> str:
    """``204681`` as ``199.9 KiB``."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float | None) -> str:
    """``75.4`` as ``1:15``; short clips keep a decimal (``2.0 s``)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def source_name(source: str) -> str:
    """``bwc`` as ``Body-worn camera``."""
    return SOURCE_NAMES.get(source, source)


def sentence(message: str) -> str:
    """An error message as a sentence: ``wrong password`` -> ``Wrong password.``"""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message[-1] in ".!?)" else message + "."


def install(app: Flask) -> None:
    """Make the filters available to every template of ``app``."""
    app.add_template_filter(when, "when")
    app.add_template_filter(human_bytes, "bytes")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(source_name, "source_name")
    app.add_template_filter(sentence, "sentence")
