"""Template filters of the pages: times, sizes, durations, source names, sentences."""

from __future__ import annotations

import datetime as dt
import functools
import json

from flask import Flask

from vms.clock import parse_iso
from vms.names import shown_title
from web.vms_app import services_of

SOURCE_NAMES = {
    "fixed": "Fixed camera",
    "bwc": "Body-worn camera",
    "dash": "Dash camera",
    "handheld": "Handheld",
    "export": "Export",
    "redacted": "Redacted copy",
}


def when(value: str | dt.datetime | None, zone: dt.tzinfo = dt.UTC) -> str:
    """An ISO 8601 UTC time (or an aware datetime) on the agency's clock, saying its zone:
    ``2026-11-21 16:15:03 CST`` (``zone``: the configuration's ``time_zone``; default
    UTC, ``... UTC``). Each time names its zone, so no heading has to and none can
    disagree with it (docs/design/time.md)."""
    if not value:
        return ""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = parse_iso(value, field="time")
        except ValueError:
            return value
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@functools.cache
def zone_names(zone: dt.tzinfo, first: int = 1970, last: int = 2060) -> str:
    """The names :func:`when` gives ``zone``'s offsets, as JSON: ``{"60": "CET", "120":
    "CEST"}`` (minutes east of UTC). The browser's ``Intl`` has short names for US zones
    only ("GMT+1" where zoneinfo says "CET", "GMT+5:30" for "IST"), so the scripts
    (static/agency_time.js) name a time by its offset from this map, as the server-drawn
    time beside it does. Read a week apart from ``first`` to ``last`` (an offset in force
    for less is missed: the script falls back on Intl's name); an offset named otherwise
    in another era keeps its latest name (Moscow's +4: MSK, 2011-2014, not MSD before)."""
    names: dict[int, str] = {}
    moment = dt.datetime(first, 1, 1, 12, tzinfo=dt.UTC)
    end = dt.datetime(last, 1, 1, tzinfo=dt.UTC)
    while moment < end:
        local = moment.astimezone(zone)
        offset = local.utcoffset() or dt.timedelta()
        names[int(offset.total_seconds()) // 60] = local.strftime("%Z")
        moment += dt.timedelta(days=7)
    return json.dumps(names, separators=(",", ":"))


def item_title(item: object, zone: dt.tzinfo = dt.UTC) -> str:
    """An item's title as a page shows it: a made-up one (camera or officer and the
    recorded time) with the time on the agency's clock; a person's as stored. ``item``:
    a case's item, or a page's dict of an item (``display_title``, ``title_at``)."""
    if isinstance(item, dict):
        title, at = item.get("display_title") or "", item.get("title_at")
    else:
        title, at = getattr(item, "display_title", None) or "", getattr(item, "title_at", None)
    return shown_title(title, at, zone)


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
    config = services_of(app).config
    zone = config.zone  # the agency's (checked when the config loaded)
    # The scripts' times (static/agency_time.js) read the zone from base.html.
    app.jinja_env.globals["time_zone"] = config.time_zone
    app.jinja_env.globals["time_zone_names"] = zone_names(zone)
    app.add_template_filter(lambda value: when(value, zone), "when")
    app.add_template_filter(lambda item: item_title(item, zone), "item_title")
    app.add_template_filter(human_bytes, "bytes")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(source_name, "source_name")
    app.add_template_filter(sentence, "sentence")
