"""The policy conformance report (issue 14, item 7): the rule table lists every rule of
POLICY.md, an enforced rule has code and a test citing it, and the report shows each
rule with its settings, code and tests (``vms policy report``).

The names and docstrings here name no rule ID on purpose: these tests check the table,
they prove no rule, and the scanner would count them as proof.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vms.cli import main
from vms.errors import InvalidArgument
from vms.policy.conformance import (
    REPO_ROOT,
    check,
    find_policy_md,
    load_rules,
    policy_md_ids,
    scan_code,
    scan_tests,
)

# How many rules each section of POLICY.md has (47 in all): a rule deleted from the
# table fails here even where POLICY.md is not beside the checkout.
SECTION_SIZES = {"RET": 13, "TAG": 7, "ACC": 11, "REL": 4, "PSCS": 5, "OPS": 7}


def test_rule_table_lists_all_47_ids_and_enforced_ones_have_code_and_tests() -> None:
    rules = load_rules()
    ids = [r.id for r in rules]
    expected = [f"{p}-{n}" for p, size in SECTION_SIZES.items() for n in range(1, size + 1)]
    assert ids == expected
    assert Counter(r.status for r in rules)["enforced"] > 0
    problems = check(rules, scan_code(REPO_ROOT), scan_tests(REPO_ROOT / "tests", REPO_ROOT))
    assert problems == ()


def test_rule_table_matches_policy_md_when_it_is_beside_the_checkout() -> None:
    policy_md = find_policy_md(REPO_ROOT)
    if policy_md is None:
        pytest.skip("no shared/POLICY.md beside this checkout (a fresh clone)")
    ids = policy_md_ids(policy_md.read_text(encoding="utf-8"))
    assert len(ids) == 47
    rules = load_rules()
    assert check(rules, None, None, ids) == ()
    titles = {r.id: r.title for r in rules}
    text = policy_md.read_text(encoding="utf-8")
    for rule_id, title in titles.items():
        assert f"| {rule_id} | {title} |" in text, f"{rule_id}'s title differs from POLICY.md"


PLANTED_RULES = """
[[rule]]
id = "RET-1"
title = "Fixed footage is purged after 30 days."
source = "003 Storage 1"
status = "enforced"

[[rule]]
id = "RET-2"
title = "Pinned by written request."
source = "003 Storage 2-3"
status = "manual"
reason = "not yet enforced by the system: issue #99"
"""

PLANTED_CODE = '''
def purge():
    """Delete fixed footage after 30 days (RET-1)."""
'''


def _plant(tmp_path: Path, test_source: str) -> tuple[str, ...]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "purge.py").write_text(PLANTED_CODE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_purge.py").write_text(test_source)
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(PLANTED_RULES)
    rules = load_rules(rules_file)
    code = scan_code(tmp_path, ["pkg"])
    assert [(loc.path, loc.line) for loc in code["RET-1"]] == [("pkg/purge.py", 3)]
    tests = scan_tests(tmp_path / "tests", tmp_path)
    policy_md = "| ID | rule |\n|---|---|\n| RET-1 | a |\n| RET-2 | b |\n| RET-3 | c |\n"
    return check(rules, code, tests, policy_md_ids(policy_md))


@pytest.mark.parametrize(
    "test_source",
    [
        "def test_purge():\n    pass\n",
        # a comment is not a citation; nor is a helper that is not a test
        "def test_purge():\n    pass  # RET-1\n\ndef helper_RET_1():\n    '''RET-1'''\n",
        # RET-10 and RET_12 are not RET-1
        "def test_purge_RET_12():\n    '''RET-10'''\n",
    ],
)
def test_check_fails_on_a_planted_enforced_rule_without_a_test(
    tmp_path: Path, test_source: str
) -> None:
    problems = _plant(tmp_path, test_source)
    assert problems == (
        "RET-1 is marked enforced but no test cites it",
        "RET-3 is in POLICY.md but not in the rules file",
    )


@pytest.mark.parametrize(
    "test_source",
    [
        "def test_purge_after_30_days_RET_1():\n    pass\n",
        "def test_purge():\n    '''Fixed footage goes after 30 days (RET-1).'''\n",
        "class TestPurge:\n    '''RET-1'''\n\n    def test_it(self):\n        pass\n",
        "'''Purge tests (RET-1).'''\n\ndef test_purge():\n    pass\n",
    ],
)
def test_check_accepts_a_test_citing_the_id_in_its_name_or_docstring(
    tmp_path: Path, test_source: str
) -> None:
    assert _plant(tmp_path, test_source) == ("RET-3 is in POLICY.md but not in the rules file",)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('status = "manual"', "RET-9 is manual without a written reason"),
        ('status = "done"', "RET-9 status 'done' is not one of"),
        ('status = "configured"\nreason = "x"', "RET-9 is configured but names no setting"),
    ],
)
def test_rule_table_refuses_malformed_entries(tmp_path: Path, entry: str, message: str) -> None:
    file = tmp_path / "rules.toml"
    file.write_text(f'[[rule]]\nid = "RET-9"\ntitle = "t"\n{entry}\n')
    with pytest.raises(InvalidArgument, match=message):
        load_rules(file)


def test_cli_report_lists_every_rule_with_settings_code_and_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "vms.toml"
    config.write_text(f'data_dir = "{tmp_path / "var"}"\npolicy_preset = "ct-post"\n')
    assert main(["--config", str(config), "policy", "report", "--json", "--strict"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset"] == "ct-post" and report["problems"] == []
    assert len(report["rules"]) == 47 and sum(report["counts"].values()) == 47
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["RET-4"]["settings"] == [
        {"key": "retention.bwc_days", "value": 90, "origin": "preset ct-post (RET-4, 000 I.2.a)"},
        {"key": "retention.dash_days", "value": 90, "origin": "preset ct-post (RET-4, 000 I.2.a)"},
    ]
    for rule in report["rules"]:
        if rule["status"] == "enforced":
            assert rule["code"] and rule["tests"], rule["id"]
            for loc in rule["code"] + rule["tests"]:
                line = (REPO_ROOT / loc["path"]).read_text().splitlines()[loc["line"] - 1]
                assert line.strip(), loc
        else:
            assert rule["reason"], rule["id"]
    assert any(t["test"].endswith("_RET_1") for t in rules["RET-1"]["tests"])

    assert main(["--config", str(config), "policy", "report"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("policy preset: ct-post (Connecticut POST/DESPP")
    assert "RET-4  enforced  [000 I.2.a]" in text
    assert "setting retention.bwc_days = 90 (preset ct-post (RET-4, 000 I.2.a))" in text
