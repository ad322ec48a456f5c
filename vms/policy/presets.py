"""Agency presets (issue 14, item 7): ``policy_preset`` in vms.toml.

A preset is a TOML file in ``vms/policy/agencies/`` named after it. Each ``[[setting]]``
gives one configuration key (``section.key``) a value taken from the agency's text, with
the rule ID and the clause it comes from; ``[[category]]`` tables are the preset's
category list (TAG-4), used as ``[tagging] categories_file`` (the preset file itself).

Precedence (vms.config): built-in defaults, then the preset, then the configuration file,
then ``VMS_*`` variables: an explicit setting always overrides the preset, and the
conformance report says so.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vms.errors import InvalidArgument

PRESETS_DIR = Path(__file__).resolve().parent / "agencies"
PRESET_NAMES = ("ct-post", "denver-bwc", "norwich-pscs")
CATEGORIES_KEY = "tagging.categories_file"


@dataclass(frozen=True)
class PresetValue:
    key: str  # "section.key"
    value: Any
    rule: str
    clause: str
    note: str = ""


@dataclass(frozen=True)
class PresetCategory:
    name: str
    evidence: bool
    rule: str
    clause: str


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    source: str
    path: Path
    settings: tuple[PresetValue, ...]
    categories: tuple[PresetCategory, ...]

    def values(self) -> dict[str, PresetValue]:
        """Every key the preset sets, the category list included."""
        out = {s.key: s for s in self.settings}
        if self.categories:
            out[CATEGORIES_KEY] = PresetValue(
                CATEGORIES_KEY,
                str(self.path),
                "TAG-4",
                "; ".join(sorted({c.clause.rsplit(".", 1)[0] for c in self.categories})),
                f"{len(self.categories)} categories from the preset",
            )
        return out


def _text(value: object, field: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{where}: '{field}' must be a non-empty string, not {value!r}")
    return value


@cache
def load_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is refused, naming the known ones."""
    if name not in PRESET_NAMES:
        raise InvalidArgument(
            f"unknown policy_preset {name!r} (allowed: {', '.join(PRESET_NAMES)})"
        )
    path = PRESETS_DIR / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    settings = []
    for i, entry in enumerate(data.get("setting", [])):
        where = f"preset {name} setting {i + 1}"
        key = _text(entry.get("key"), "key", where)
        if "value" not in entry:
            raise InvalidArgument(f"{where}: {key} has no value")
        settings.append(
            PresetValue(
                key,
                entry["value"],
                _text(entry.get("rule"), "rule", where),
                _text(entry.get("clause"), "clause", where),
                str(entry.get("note", "")),
            )
        )
    categories = tuple(
        PresetCategory(
            _text(c.get("name"), "name", f"preset {name} category {i + 1}"),
            bool(c.get("evidence", False)),
            _text(c.get("rule"), "rule", f"preset {name} category {i + 1}"),
            _text(c.get("clause"), "clause", f"preset {name} category {i + 1}"),
        )
        for i, c in enumerate(data.get("category", []))
    )
    return Preset(
        name,
        str(data.get("title", name)),
        str(data.get("source", "")),
        path,
        tuple(settings),
        categories,
    )
