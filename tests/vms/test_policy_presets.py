"""Agency presets (issue 14, item 7): ``policy_preset`` sets each agency's values from its
text, each value carrying the rule ID and the clause; explicit settings override them.

The expected values below were read from the policy texts (/work/shared/seeds), not from
the preset files: a preset that drifts from its agency's text fails here. The test names
cite no rule ID on purpose: they prove a preset's values, not that a rule is enforced,
and the conformance report counts a citing test as proof of enforcement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vms.categories import DENVER_CATEGORIES, load_categories
from vms.config import load_config, setting_names
from vms.errors import InvalidArgument
from vms.policy.conformance import settings_in_force
from vms.policy.presets import PRESET_NAMES, load_preset

# preset -> {setting: (value, rule, clause)}: the agency's text, clause by clause.
EXPECTED: dict[str, dict[str, tuple[Any, str, str]]] = {
    "norwich-pscs": {
        # "destroyed or deleted ... after thirty (30) days"
        "retention.fixed_days": (30, "RET-1", "003 Storage & Archive Procedures 1"),
        # emergencies, event management, reasonable-suspicion investigations; known crime places
        "ptz.purposes": (
            "emergency,event,investigation,crime_location",
            "PSCS-4",
            "003 Use Procedures 1-2",
        ),
        "access.review_purposes": (
            "criminal_investigation,prosecution",
            "ACC-4",
            "003 Storage & Archive Procedures 1, 4-5",
        ),
    },
    "denver-bwc": {
        # "under no circumstances should any BWC video be left untagged for more than 72-hours"
        "tagging.deadline_hours": (72.0, "TAG-3", "001 4.9.3, 5.6, 6.1.4.2"),
        # untagged routine videos "retained for at least 60-days"
        "retention.bwc_days": (60, "RET-11", "001 6.1.3, 6.1.5.2"),
        # "at least two BWC videos for each deputy"
        "reviews.per_officer_month": (2, "OPS-6", "001 5.12.6.1"),
        "access.review_purposes": (
            "report_writing,law_enforcement,administrative,internal_affairs,supervisor_review",
            "ACC-4",
            "001 4.4, 3.5.6, 5.12, 8.1",
        ),
    },
    "ct-post": {
        # "a minimum of ninety (90) days"
        "retention.bwc_days": (90, "RET-4", "000 I.2.a"),
        "retention.dash_days": (90, "RET-4", "000 I.2.a"),
        # "a minimum of four (4) years"
        "retention.evidence_days": (4 * 365 + 1, "RET-7", "000 I.2.d"),
        "access.review_purposes": (
            "report_writing,training,performance_review,complaint_investigation,"
            "technical_support,internal_affairs,criminal_investigation,legal,"
            "witness_statement,prosecution,chief_authorised",
            "ACC-4",
            "000 G.1.a-b, G.3.a-i",
        ),
    },
}

# preset -> (category name, evidence, clause), in order.
EXPECTED_CATEGORIES: dict[str, list[tuple[str, bool, str]]] = {
    "norwich-pscs": [
        ("Criminal investigation", True, "003 Storage & Archive Procedures 1"),
        ("Prosecution", True, "003 Storage & Archive Procedures 1"),
        ("Written preservation request", True, "003 Storage & Archive Procedures 2-3"),
    ],
    "denver-bwc": [
        (c.name, c.evidence, f"001 4.7.2.{i}") for i, c in enumerate(DENVER_CATEGORIES, 1)
    ],
    "ct-post": [
        ("Arrest or search", True, "000 D.5.b.1"),
        ("Use of force", True, "000 D.5.b.2"),
        ("Retain (officer's determination)", True, "000 D.5.b.3"),
        ("Major incident (death, serious injury, catastrophic damage)", True, "000 D.5.b.4"),
        ("Other", False, "000 I.2.a"),
    ],
}


def _get(config: Any, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(config, section), key)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_matches_its_agency_text(name: str) -> None:
    """Every value the preset sets is the one the agency's clause states, with that rule
    ID and clause; the configuration loaded with the preset carries them; nothing else."""
    preset = load_preset(name)
    given = {s.key: (s.value, s.rule, s.clause) for s in preset.settings}
    assert given == EXPECTED[name]
    config = load_config(environ={}, overrides={"VMS_POLICY_PRESET": name})
    assert config.policy_preset == name
    for key, (value, rule, clause) in EXPECTED[name].items():
        assert _get(config, key) == value, key
        (setting,) = settings_in_force(config, [key])
        assert setting.origin == f"preset {name} ({rule}, {clause})"


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_category_list_matches_its_agency_text(name: str) -> None:
    """The preset's categories become the category list, evidence flags as the text
    catalogues them (Denver's 30 of 4.7.2 in order, CT's D.5.b evidence list)."""
    preset = load_preset(name)
    assert [(c.name, c.evidence, c.clause) for c in preset.categories] == EXPECTED_CATEGORIES[name]
    config = load_config(environ={}, overrides={"VMS_POLICY_PRESET": name})
    assert Path(config.tagging.categories_file) == preset.path
    categories = load_categories(config.tagging.categories_file).categories
    assert [(c.name, c.evidence) for c in categories] == [
        (n, e) for n, e, _ in EXPECTED_CATEGORIES[name]
    ]


def test_every_preset_key_is_a_setting() -> None:
    """A preset names only real settings (a misspelt key would be silently lost)."""
    known = {f"{section}.{key}" for section, key, _ in setting_names().values() if section}
    for name in PRESET_NAMES:
        for key in load_preset(name).values():
            assert key in known, f"preset {name}: {key} is not a setting"


def test_explicit_settings_override_the_preset(tmp_path: Path) -> None:
    """The file and the environment beat the preset, and the report says it overrides."""
    file = tmp_path / "vms.toml"
    file.write_text(
        'policy_preset = "ct-post"\n[retention]\nbwc_days = 120\n[tagging]\ndeadline_hours = 48\n'
    )
    config = load_config(file, environ={"VMS_RETENTION_EVIDENCE_DAYS": "2000"})
    assert config.retention.bwc_days == 120  # the file
    assert config.retention.evidence_days == 2000  # the environment
    assert config.retention.dash_days == 90  # the preset
    bwc, evidence, dash, deadline = settings_in_force(
        config,
        [
            "retention.bwc_days",
            "retention.evidence_days",
            "retention.dash_days",
            "tagging.deadline_hours",
        ],
    )
    assert bwc.origin == "configuration, overriding preset ct-post (90, RET-4, 000 I.2.a)"
    assert evidence.origin.startswith("configuration, overriding preset ct-post (1461")
    assert dash.origin == "preset ct-post (RET-4, 000 I.2.a)"
    assert deadline.origin == "configuration"  # CT sets no tagging deadline
    assert settings_in_force(load_config(environ={}), ["retention.bwc_days"])[0].origin == (
        "default"
    )


@pytest.mark.parametrize("where", ["file", "environment"])
def test_unknown_preset_is_refused_naming_the_allowed_ones(tmp_path: Path, where: str) -> None:
    file = tmp_path / "vms.toml"
    file.write_text('policy_preset = "hartford"\n')
    with pytest.raises(InvalidArgument) as err:
        if where == "file":
            load_config(file, environ={})
        else:
            load_config(environ={"VMS_POLICY_PRESET": "hartford"})
    assert err.value.message == (
        "unknown policy_preset 'hartford' (allowed: ct-post, denver-bwc, norwich-pscs)"
    )
