"""Write ``tests/durations.json`` from the JUnit XML of a test run of each tier.

    VMS_TEST_TIER=fast pytest ... --junitxml=fast.xml
    VMS_TEST_TIER=rest pytest ... --junitxml=rest.xml
    python scripts/test_durations.py --fast fast.xml --rest rest.xml

The file holds each test file's seconds (set-up, call and tear-down of its tests) per
tier. tests/conftest.py runs the longest files first, so the parallel workers finish
together instead of one running the longest file alone at the end. Only the order
depends on it: a stale or missing figure costs time, never a test.
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "durations.json"


def seconds_per_file(junit: Path) -> dict[str, float]:
    """Each test file's total time in ``junit``: the test's ``classname`` is the module's
    dotted path, then any test classes (capitalised)."""
    out: dict[str, float] = defaultdict(float)
    # Our own pytest run's report, not untrusted input.
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        parts = case.get("classname", "").split(".")
        while parts and parts[-1][:1].isupper():
            parts.pop()
        if parts:
            out["/".join(parts) + ".py"] += float(case.get("time") or 0)
    return {name: round(total, 1) for name, total in sorted(out.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", type=Path, required=True, help="JUnit XML of the fast tier")
    parser.add_argument("--rest", type=Path, required=True, help="JUnit XML of the rest tier")
    args = parser.parse_args()
    table = {"fast": seconds_per_file(args.fast), "rest": seconds_per_file(args.rest)}
    OUT.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(table['fast'])} fast-tier and {len(table['rest'])} rest-tier files")


if __name__ == "__main__":
    main()
