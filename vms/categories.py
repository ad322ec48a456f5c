"""The category list (TAG-4): each category with its retention period.

The default is the Denver Sheriff Department list (Order 1.00.3001, 4.7.2). Categories
the policies treat as evidence (TAG-6: arrests, searches, use of force, death or serious
bodily injury, major incidents) default to the evidence retention (RET-7, ``None`` in
``retention_days`` means "the configured evidence retention"); the others keep the
source's retention (RET-4, 90 days for BWC/dash) unless a period is given. A site replaces
the list with ``[tagging] categories_file`` (TOML with ``[[category]]`` tables, or JSON
list), each entry ``{name, retention_days?, evidence?}`` (and ``rule``, ``clause`` in an
agency preset, vms/policy/agencies, whose file is used as the categories file).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vms.errors import InvalidArgument


@dataclass(frozen=True)
class Category:
    name: str
    # Days to keep media tagged with it; None: the source default, or the evidence
    # retention when ``evidence`` is set.
    retention_days: int | None = None
    evidence: bool = False  # TAG-6


def _evidence(name: str) -> Category:
    return Category(name, None, True)


DENVER_CATEGORIES: tuple[Category, ...] = (
    Category("Planned Course of Action (facilities)"),
    _evidence("Arrest and/or pat down search (outside facilities)"),
    _evidence("Use of Force - Inside facilities"),
    _evidence("Use of Force - Outside Jail Facilities"),
    _evidence("SBI/Death in Custody"),
    _evidence("Offense in Custody - OIC"),
    Category("Eviction"),
    Category("Vacates"),
    Category("Civil Protection Order"),
    Category("Child Pick Up Order"),
    Category("Service of Process"),
    Category("Mental Health Pick Ups"),
    _evidence("Entry/Forced Entry"),
    Category("Warrant Detail"),
    _evidence("Building Search (outside facilities)"),
    _evidence("Facility or Cell Search"),
    _evidence("Crowd Control/Civil Unrest"),
    _evidence("CIU Investigation"),
    Category("Gang Unit"),
    Category("Fugitive Unit"),
    _evidence("PREA Notification or Investigation"),
    Category("Grievance Interview (inmate)"),
    Category("OIC Hearings"),
    Category("Inmate interview"),
    Category("ERU event"),
    Category("Assist Other Agency"),
    _evidence("Suicide/Suicide Attempt"),
    Category("Escort to/from I-Cell"),
    Category("FIO (For Information Only)"),
    Category("Other"),
)


@dataclass(frozen=True)
class CategoryRetention:
    """How long media tagged with a category is kept, and which rule says so."""

    name: str
    evidence: bool
    retention_days: int | None  # None: the source's default
    retention_basis: str


class CategoryList:
    def __init__(self, categories: tuple[Category, ...]) -> None:
        self.categories = categories
        self._by_key = {c.name.casefold(): c for c in categories}
        if len(self._by_key) != len(categories):
            raise InvalidArgument("the category list names a category twice")

    def get(self, name: str) -> Category | None:
        return self._by_key.get(name.strip().casefold())

    def retention(self, evidence_days: int) -> tuple[CategoryRetention, ...]:
        """Each category with the retention it gives (TAG-4): its own period, else the
        evidence retention ``evidence_days`` for evidence (RET-7), else the source's."""
        out = []
        for category in self.categories:
            days: int | None
            if category.retention_days is not None:
                days, basis = category.retention_days, "category"
            elif category.evidence:
                days, basis = evidence_days, "evidence (RET-7)"
            else:
                days, basis = None, "source default (RET-1, RET-4)"
            out.append(CategoryRetention(category.name, category.evidence, days, basis))
        return tuple(out)

    def normalise(self, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Canonical spelling of each name; unknown names are refused, naming them."""
        out: list[str] = []
        unknown: list[str] = []
        for name in names:
            category = self.get(name) if isinstance(name, str) else None
            if category is None:
                unknown.append(repr(name))
            elif category.name not in out:
                out.append(category.name)
        if unknown:
            raise InvalidArgument(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                "(GET /api/v1/categories lists them)"
            )
        return tuple(out)


def load_categories(path: str) -> CategoryList:
    """The configured list: the file at ``path``, or the Denver default when empty."""
    if not path:
        return CategoryList(DENVER_CATEGORIES)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data: Any = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"categories file {file}: {exc}") from None
    entries = data.get("category", []) if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise InvalidArgument(f"categories file {file}: expected a non-empty list of categories")
    categories = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidArgument(f"categories file {file}: entry {i + 1} has no name")
        # rule and clause: where an agency preset's category comes from (vms/policy).
        extra = set(entry) - {"name", "retention_days", "evidence", "rule", "clause"}
        if extra:
            raise InvalidArgument(
                f"categories file {file}: entry {entry['name']!r} has unknown keys {sorted(extra)}"
            )
        days = entry.get("retention_days")
        if days is not None and (not isinstance(days, int) or days < 0):
            raise InvalidArgument(
                f"categories file {file}: {entry['name']!r} retention_days must be a whole "
                f"number of days, not {days!r}"
            )
        categories.append(Category(entry["name"], days, bool(entry.get("evidence", False))))
    return CategoryList(tuple(categories))
