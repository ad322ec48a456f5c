"""The policy conformance report (issue 14, item 7; docs/design/policy.md).

``rules.toml`` (beside this module) lists every rule ID of POLICY.md with its status:

- ``enforced``: code enforces it; at least one code location and one test must cite the ID
  (``problems`` reports an enforced rule without them, and a fast test fails on it);
- ``configured``: the system carries the agency's value as a setting and follows it, but
  whether the rule is met depends on the site (a reason says how);
- ``manual``: people do it outside the system, or the system does not enforce it yet (the
  reason says which, and names the issue);
- ``not_applicable``: the rule is not the system's business (the reason says why).

Code locations are found by scanning the packages' ``.py`` files for the ID (``RET-1``);
tests by reading the test modules' syntax trees: a test cites an ID in its name
(``test_..._RET_1``) or in its docstring, its class's or its module's docstring. Both scans
run when the report is built, so the report is never staler than the checkout.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vms.errors import InvalidArgument

STATUSES = ("enforced", "configured", "manual", "not_applicable")
RULES_FILE = Path(__file__).resolve().parent / "rules.toml"
REPO_ROOT = Path(__file__).resolve().parents[2]
CODE_PACKAGES = ("vms", "onvif_control", "privacy_masks", "recorder", "retention", "web")
PREFIXES = ("RET", "TAG", "ACC", "REL", "PSCS", "OPS")
_PREFIX = "|".join(PREFIXES)
RULE_ID = re.compile(rf"\b(?:{_PREFIX})-\d+\b")
TEST_NAME_ID = re.compile(rf"(?<![A-Za-z0-9])({_PREFIX})_(\d+)(?![0-9])")
POLICY_MD_ROW = re.compile(rf"^\|\s*((?:{_PREFIX})-\d+)\s*\|", re.MULTILINE)
# This package quotes rule IDs as examples: its own mentions are not citations.
_SELF = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RuleSpec:
    id: str
    title: str
    source: str
    status: str
    reason: str
    settings: tuple[str, ...]
    gaps: str = ""  # what an enforced rule does not cover yet


@dataclass(frozen=True)
class Location:
    path: str  # relative to the repository root
    line: int


@dataclass(frozen=True)
class TestCitation:
    path: str
    line: int
    test: str  # "test_name" or "Class::test_name"; "(module)" for a module docstring


@dataclass(frozen=True)
class SettingInForce:
    key: str  # "section.key" or a top-level key
    value: Any
    origin: str  # "default", "preset ct-post (RET-4, 000 I.2.a)", "configuration", ...


@dataclass(frozen=True)
class RuleReport:
    id: str
    title: str
    source: str
    status: str
    reason: str
    gaps: str
    settings: tuple[SettingInForce, ...]
    code: tuple[Location, ...]
    tests: tuple[TestCitation, ...]


@dataclass(frozen=True)
class ConformanceReport:
    preset: str
    rules: tuple[RuleReport, ...]
    problems: tuple[str, ...]
    tests_scanned: bool

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.rules if r.status == s) for s in STATUSES}


def rule_sort_key(rule_id: str) -> tuple[int, int]:
    prefix, number = rule_id.rsplit("-", 1)
    return (PREFIXES.index(prefix), int(number))


def load_rules(path: Path = RULES_FILE) -> tuple[RuleSpec, ...]:
    """The rule table; a malformed entry is refused, naming the rule and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgument(f"rules file {path}: {exc}") from None
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("rule", [])):
        rule_id = entry.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
            raise InvalidArgument(f"rules file {path}: entry {i + 1} has a bad id {rule_id!r}")
        if rule_id in seen:
            raise InvalidArgument(f"rules file {path}: {rule_id} is listed twice")
        seen.add(rule_id)
        status = entry.get("status")
        if status not in STATUSES:
            raise InvalidArgument(
                f"rules file {path}: {rule_id} status {status!r} is not one of "
                f"{', '.join(STATUSES)}"
            )
        reason = str(entry.get("reason", "")).strip()
        if status != "enforced" and not reason:
            raise InvalidArgument(
                f"rules file {path}: {rule_id} is {status} without a written reason"
            )
        settings = tuple(entry.get("settings", ()))
        if status == "configured" and not settings:
            raise InvalidArgument(
                f"rules file {path}: {rule_id} is configured but names no setting"
            )
        rules.append(
            RuleSpec(
                rule_id,
                str(entry.get("title", "")),
                str(entry.get("source", "")),
                status,
                reason,
                settings,
                str(entry.get("gaps", "")).strip(),
            )
        )
    return tuple(rules)


def policy_md_ids(text: str) -> tuple[str, ...]:
    """The rule IDs of POLICY.md's tables, in order."""
    return tuple(POLICY_MD_ROW.findall(text))


def find_policy_md(start: Path = REPO_ROOT) -> Path | None:
    """``shared/POLICY.md`` beside the checkout or one of its parents (a fresh clone in CI
    may have none)."""
    for folder in (start, *start.parents):
        candidate = folder / "shared" / "POLICY.md"
        if candidate.is_file():
            return candidate
    return None


def _python_files(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def scan_code(
    root: Path = REPO_ROOT, packages: Iterable[str] = CODE_PACKAGES
) -> dict[str, list[Location]]:
    """Every ``file:line`` of the packages that names a rule ID."""
    found: dict[str, list[Location]] = {}
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            continue
        for file in _python_files(folder):
            if file.resolve().is_relative_to(_SELF):
                continue
            rel = file.relative_to(root).as_posix()
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
                for rule_id in sorted(set(RULE_ID.findall(line))):
                    found.setdefault(rule_id, []).append(Location(rel, number))
    return found


def _ids_in_name(name: str) -> set[str]:
    return {f"{p}-{n}" for p, n in TEST_NAME_ID.findall(name)}


def _ids_in_doc(node: ast.AST) -> set[str]:
    if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return set()
    return set(RULE_ID.findall(ast.get_docstring(node) or ""))


def scan_tests(tests_dir: Path, root: Path = REPO_ROOT) -> dict[str, list[TestCitation]]:
    """Every test that cites a rule ID in its name or docstring (or its class's or
    module's docstring)."""
    found: dict[str, list[TestCitation]] = {}

    def add(ids: set[str], citation: TestCitation) -> None:
        for rule_id in sorted(ids):
            found.setdefault(rule_id, []).append(citation)

    for file in _python_files(tests_dir):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        except SyntaxError:
            continue
        rel = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
        add(_ids_in_doc(tree), TestCitation(rel, 1, "(module)"))
        for node in tree.body:
            funcs: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, set[str]]] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                funcs.append(("", node, set()))
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                class_ids = _ids_in_doc(node) | _ids_in_name(node.name)
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        funcs.append((f"{node.name}::", item, class_ids))
            for prefix, func, inherited in funcs:
                if not func.name.startswith("test"):
                    continue
                ids = _ids_in_name(func.name) | _ids_in_doc(func) | inherited
                add(ids, TestCitation(rel, func.lineno, prefix + func.name))
    return found


def _setting(config: Any, dotted: str) -> Any:
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def settings_in_force(config: Any, keys: Iterable[str]) -> tuple[SettingInForce, ...]:
    """Each key's value in ``config`` and where it came from: the built-in default, the
    preset (with its rule and clause), or the configuration (overriding the preset)."""
    from vms.config import Config
    from vms.policy.presets import load_preset

    defaults = Config()
    preset_values = load_preset(config.policy_preset).values() if config.policy_preset else {}
    out = []
    for key in keys:
        value = _setting(config, key)
        given = preset_values.get(key)
        if given is not None and given.value == value:
            origin = f"preset {config.policy_preset} ({given.rule}, {given.clause})"
        elif given is not None:
            origin = (
                f"configuration, overriding preset {config.policy_preset} "
                f"({given.value!r}, {given.rule}, {given.clause})"
            )
        elif value == _setting(defaults, key):
            origin = "default"
        else:
            origin = "configuration"
        out.append(SettingInForce(key, value, origin))
    return tuple(out)


def check(
    rules: tuple[RuleSpec, ...],
    code: dict[str, list[Location]] | None,
    tests: dict[str, list[TestCitation]] | None,
    policy_ids: tuple[str, ...] | None = None,
) -> tuple[str, ...]:
    """What is wrong with the rule table: an enforced rule without a citing test or code
    (when those were scanned: None skips the check), and IDs missing on either side when
    POLICY.md's list is given."""
    problems: list[str] = []
    for rule in rules:
        if rule.status != "enforced":
            continue
        if tests is not None and not tests.get(rule.id):
            problems.append(f"{rule.id} is marked enforced but no test cites it")
        if code is not None and not code.get(rule.id):
            problems.append(f"{rule.id} is marked enforced but no code cites it")
    if policy_ids is not None:
        listed = {r.id for r in rules}
        for rule_id in policy_ids:
            if rule_id not in listed:
                problems.append(f"{rule_id} is in POLICY.md but not in the rules file")
        for rule_id in sorted(listed - set(policy_ids), key=rule_sort_key):
            problems.append(f"{rule_id} is in the rules file but not in POLICY.md")
    return tuple(problems)


@dataclass(frozen=True)
class _Scan:
    code: dict[str, list[Location]]
    tests: dict[str, list[TestCitation]] | None
    policy_ids: tuple[str, ...] | None


def _scan(root: Path) -> _Scan:
    tests_dir = root / "tests"
    policy_md = find_policy_md(root)
    return _Scan(
        scan_code(root),
        scan_tests(tests_dir, root) if tests_dir.is_dir() else None,
        policy_md_ids(policy_md.read_text(encoding="utf-8")) if policy_md else None,
    )


# A process's installed code does not change under it: the web page scans once.
_scan_once = cache(_scan)


def build_report(
    config: Any,
    *,
    rules: tuple[RuleSpec, ...] | None = None,
    root: Path = REPO_ROOT,
    rescan: bool = True,
) -> ConformanceReport:
    """The report for ``config`` (a :class:`vms.config.Config`) over this checkout.
    ``rescan=False`` reuses this process's first scan of the code and tests (the page)."""
    rules = load_rules() if rules is None else rules
    scan = _scan(root) if rescan else _scan_once(root)
    code, tests, policy_ids = scan.code, scan.tests, scan.policy_ids
    reports = tuple(
        RuleReport(
            rule.id,
            rule.title,
            rule.source,
            rule.status,
            rule.reason,
            rule.gaps,
            settings_in_force(config, rule.settings),
            tuple(code.get(rule.id, ())),
            tuple((tests or {}).get(rule.id, ())),
        )
        for rule in rules
    )
    return ConformanceReport(
        config.policy_preset,
        reports,
        check(rules, code, tests, policy_ids),
        tests is not None,
    )
