"""The order the tiers run their test files in (tests/conftest.py: longest_files_first)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest


def ids(items: list[Any]) -> list[str]:
    return [item.nodeid for item in items]


def test_the_longest_files_run_first_each_in_its_own_order_and_a_new_one_as_the_median(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "durations.json"
    table.write_text(json.dumps({"rest": {"a.py": 1.0, "b.py": 10.0, "d.py": 3.0}}))
    monkeypatch.setattr(conftest, "DURATIONS", table)
    items: list[Any] = [
        SimpleNamespace(nodeid=n)
        for n in ("a.py::t2", "a.py::t1", "b.py::t1", "c.py::t1[x]", "c.py::t1[y]", "d.py::t")
    ]
    # c.py is new: it counts as the median file (3 s), tied with d.py: as collected.
    assert ids(conftest.longest_files_first(items, "rest")) == [
        "b.py::t1",
        "c.py::t1[x]",
        "c.py::t1[y]",
        "d.py::t",
        "a.py::t2",
        "a.py::t1",
    ]
    # No table for the tier, or none at all: the order is left as collected.
    assert ids(conftest.longest_files_first(items, "fast")) == ids(items)
    monkeypatch.setattr(conftest, "DURATIONS", tmp_path / "missing.json")
    assert ids(conftest.longest_files_first(items, "rest")) == ids(items)
