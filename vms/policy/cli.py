"""``vms policy report [--json] [--strict]``: the conformance report (issue 14, item 7)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vms.config import Config
from vms.jsonable import jsonable
from vms.policy.conformance import ConformanceReport, build_report
from vms.policy.presets import load_preset

STATUS_TEXT = {"not_applicable": "not applicable"}


def render_text(report: ConformanceReport) -> str:
    """The report as plain text, one block per rule."""
    lines = []
    if report.preset:
        preset = load_preset(report.preset)
        lines.append(f"policy preset: {report.preset} ({preset.title})")
    else:
        lines.append("policy preset: none (built-in defaults and the configuration)")
    counts = report.counts()
    summary = ", ".join(f"{n} {STATUS_TEXT.get(s, s)}" for s, n in counts.items())
    lines.append(f"{len(report.rules)} rules: {summary}")
    if not report.tests_scanned:
        lines.append("tests: not in this installation (no tests/ folder): test citations unknown")
    for rule in report.rules:
        lines.append("")
        lines.append(f"{rule.id}  {STATUS_TEXT.get(rule.status, rule.status)}  [{rule.source}]")
        lines.append(f"  {rule.title}")
        if rule.reason:
            lines.append(f"  reason: {rule.reason}")
        if rule.gaps:
            lines.append(f"  not yet: {rule.gaps}")
        for setting in rule.settings:
            lines.append(f"  setting {setting.key} = {setting.value!r} ({setting.origin})")
        if rule.code:
            where = ", ".join(f"{loc.path}:{loc.line}" for loc in rule.code)
            lines.append(f"  code ({len(rule.code)}): {where}")
        for test in rule.tests:
            lines.append(f"  test {test.path}:{test.line} {test.test}")
    return "\n".join(lines)


def cmd_policy_report(args: argparse.Namespace) -> int:
    config: Config = args.config_obj
    report = build_report(config, rescan=False)  # one command, one scan
    if args.json:
        print(json.dumps({**jsonable(report), "counts": report.counts()}, indent=2))
    else:
        print(render_text(report))
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if args.strict and report.problems else 0


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser(
        "policy", help="agency policy: the conformance report"
    ).add_subparsers(dest="policy_cmd", required=True)
    p = policy.add_parser(
        "report",
        help="every rule ID with its status, settings in force, citing code and tests",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit 1 when the rule table has a problem")
    p.set_defaults(func=cmd_policy_report)
