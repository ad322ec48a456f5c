"""The monthly audit (:mod:`vms.audit.monthly`) as CSV and as PDF (issue 14 item 3).

The CSV is long-form, one number a row: ``section, user, role, camera, source, officer,
metric, value``, so a spreadsheet pivots it and a script sums it. The PDF is the same
numbers as text tables (:mod:`vms.audit.pdf`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from vms.audit.monthly import MonthlyAuditReport
from vms.audit.pdf import text_pdf
from vms.clock import isoformat
from vms.csv_cells import csv_row

CSV_COLUMNS = ("section", "user", "role", "camera", "source", "officer", "metric", "value")

USAGE_METRICS = ("views", "downloads", "playbacks", "live_views", "exports", "releases")
STORAGE_METRICS = (
    "items",
    "bytes",
    "added_items",
    "added_bytes",
    "purged_items",
    "purged_bytes",
    "growth_bytes",
    "held_items",
    "held_bytes",
    "expiring_items",
    "expiring_bytes",
)
VIEWING_METRICS = ("live_views", "playbacks", "playback_seconds", "item_views")
PTZ_METRICS = (
    "sessions",
    "sessions_outside_hours",
    "commands",
    "commands_refused",
    "commands_into_masks",
    "seconds_in_control",
)


def csv_rows(r: MonthlyAuditReport) -> Iterator[tuple[object, ...]]:
    """The report's numbers, one a row (``CSV_COLUMNS``)."""
    yield ("report", "", "", "", "", "", "month", r.month)
    yield ("report", "", "", "", "", "", "time_zone", r.time_zone)
    yield ("report", "", "", "", "", "", "generated_at", isoformat(r.generated_at))
    for u in r.usage:
        for m in USAGE_METRICS:
            yield ("usage", u.user, u.role, "", "", "", m, getattr(u, m))
    for st in r.storage:
        for m in STORAGE_METRICS:
            yield ("storage", "", "", "", st.source, "", m, getattr(st, m))
    for v in r.viewing:
        for m in VIEWING_METRICS:
            yield ("viewing", v.user, v.role, v.camera_id, "", "", m, getattr(v, m))
    for p in r.ptz or ():
        for m in PTZ_METRICS:
            yield ("ptz", p.user, p.role, p.camera_id, "", "", m, getattr(p, m))
    for source, n in sorted((r.untagged_not_requiring_tags or {}).items()):
        yield ("tagging", "", "", "", source, "", "untagged_not_requiring_tags", n)
    for badge, n in sorted((r.tagging_failures_per_officer or {}).items()):
        yield ("tagging", "", "", "", "", badge, "tagging_failures", n)
    for c in r.reviews:
        yield ("reviews", c.supervisor or "", "", "", "", c.officer_badge, "reviews", c.reviews)
        yield ("reviews", c.supervisor or "", "", "", "", c.officer_badge, "required", c.required)
        yield ("reviews", c.supervisor or "", "", "", "", c.officer_badge, "short", int(c.short))


def to_csv(r: MonthlyAuditReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    # OPS-7: a badge or name typed by the people audited never runs as a formula.
    writer.writerows(csv_row(row) for row in csv_rows(r))
    return out.getvalue()


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(c) for c in head], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    return [lines[0], "-" * len(lines[0]), *lines[1:]] if rows else [lines[0], "(none)"]


def text_lines(r: MonthlyAuditReport) -> list[str]:
    """The report as text tables (the PDF's and the CLI's)."""
    out = [
        f"Monthly audit {r.month} (OPS-6, OPS-7, TAG-7)",
        f"period {isoformat(r.start)} .. {isoformat(r.end)} (the month in {r.time_zone}), "
        f"generated {isoformat(r.generated_at)}",
        "",
        "Usage per user and role (ok audit entries of the month)",
    ]
    out += _table(
        ("user", "role", *USAGE_METRICS),
        [(u.user, u.role, *(getattr(u, m) for m in USAGE_METRICS)) for u in r.usage],
    )
    out += ["", "Storage by source (month end; held/expiring: today's holds and expiries)"]
    out += _table(
        ("source", *STORAGE_METRICS),
        [(s.source, *(getattr(s, m) for m in STORAGE_METRICS)) for s in r.storage],
    )
    out += ["", "Viewing: who watched which camera (playback_seconds: requested playback windows)"]
    out += _table(
        ("user", "role", "camera", *VIEWING_METRICS),
        [
            (v.user, v.role, v.camera_id, *(getattr(v, m) for m in VIEWING_METRICS))
            for v in r.viewing
        ],
    )
    out += ["", "PTZ use (the PTZ-use report)"]
    if r.ptz is None:
        out.append("(camera control not installed)")
    else:
        out += _table(
            ("user", "role", "camera", *PTZ_METRICS),
            [(p.user, p.role, p.camera_id, *(getattr(p, m) for m in PTZ_METRICS)) for p in r.ptz],
        )
    out += ["", "Tagging (TAG-7)"]
    if r.untagged_not_requiring_tags is None:
        out.append("(retention not installed)")
    else:
        out += _table(
            ("source", "untagged_not_requiring_tags"), sorted(r.untagged_not_requiring_tags.items())
        )
        out += _table(
            ("officer", "tagging_failures"), sorted((r.tagging_failures_per_officer or {}).items())
        )
    out += ["", f"Supervisor reviews (OPS-6: {r.reviews_required} per officer per month)"]
    out += _table(
        ("officer", "name", "supervisor", "reviews", "required", "short"),
        [
            (
                c.officer_badge,
                c.officer or "",
                c.supervisor or "",
                c.reviews,
                c.required,
                "SHORT" if c.short else "",
            )
            for c in r.reviews
        ],
    )
    return out


def to_pdf(r: MonthlyAuditReport) -> bytes:
    return text_pdf(text_lines(r), title=f"Monthly audit {r.month}")
