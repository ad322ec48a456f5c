"""Configuration: defaults, file, environment; unknown keys refused (STYLE practice 5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vms.config import load_config, setting_names
from vms.errors import InvalidArgument

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults() -> None:
    config = load_config(environ={})
    assert config.data_dir == Path("./var")
    assert config.effective_database_url.startswith("sqlite:///")
    assert config.effective_database_url.endswith("var/vms.db")
    assert config.retention.fixed_days == 30  # RET-1
    assert config.retention.bwc_days == 90  # RET-4
    assert config.recorder.segment_seconds == 60


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "vms.toml"
    file.write_text('data_dir = "/srv/vms"\n[recorder]\nsegment_seconds = 30\n[web]\nport = 9000\n')
    config = load_config(file, environ={"VMS_WEB_PORT": "9100", "VMS_CONFIG": "ignored"})
    assert config.data_dir == Path("/srv/vms")
    assert config.recorder.segment_seconds == 30
    assert config.web.port == 9100  # the environment wins
    via_env = load_config(environ={"VMS_CONFIG": str(file)})
    assert via_env.web.port == 9000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[recorder]\nsegment_secs = 30\n", "unknown key 'segment_secs' in [recorder]"),
        ("[recordr]\nsegment_seconds = 30\n", "unknown section [recordr]"),
        ("datadir = 'x'\n", "unknown top-level key 'datadir'"),
        ("[web]\nport = 'eighty'\n", "'eighty' is not a valid int"),
        ("[web\n", "not valid TOML"),
        (
            "[privacy_masks]\ncapture_error_seconds = -0.1\n",
            "[privacy_masks] capture_error_seconds must be in [0.0, 5.0], not -0.1",
        ),
        (
            "[ingest]\nprobe_max_frame_pixels = 0\n",
            "[ingest] probe_max_frame_pixels must be at least 1, not 0",
        ),
        (
            "[privacy_masks]\npose_wait_seconds = 2\n",
            "[privacy_masks] pose_wait_seconds must be in [0.0, 0.99], not 2",
        ),
    ],
)
def test_bad_files_are_refused_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "vms.toml"
    file.write_text(text)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        load_config(file, environ={})


def test_unknown_environment_setting_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="VMS_RECORDER_SEGMENT_SECS"):
        load_config(environ={"VMS_RECORDER_SEGMENT_SECS": "5"})
    with pytest.raises(InvalidArgument, match="not a valid bool"):
        load_config(environ={"VMS_WEB_SECURE_COOKIES": "maybe"})
    load_config(environ={"VMS_TEST_ANYTHING": "1", "VMS_CACHE_DIR": "/tmp"})  # not settings


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in setting_names() if f"`{name}`" not in text]
    assert not missing, f"undocumented settings in docs/configuration.md: {missing}"


def _documented() -> dict[str, tuple[str, str, str, str]]:
    """docs/configuration.md's table: environment name -> (file key, type, default,
    meaning), as written."""
    rows = {}
    for line in DOC.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        key, env, typ, default, meaning = cells[:5]
        rows[env.strip("`")] = (key.strip("`"), typ, default, meaning)
    return rows


def _as_written(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_the_documented_settings_are_the_loaded_ones_with_their_defaults() -> None:
    """docs/configuration.md and the loader agree both ways: every documented row names a
    setting the loader reads, under its file key and type, with the loader's default
    (the test above only checked that each loaded setting's name appears somewhere)."""
    config = load_config(environ={})
    documented = _documented()
    loaded = setting_names()
    assert sorted(set(documented) - set(loaded)) == [], "documented but never read"
    assert sorted(set(loaded) - set(documented)) == [], "read but not in the table"
    for env, (section, key, typ) in loaded.items():
        file_key, doc_type, doc_default, _ = documented[env]
        assert file_key == (f"[{section}] {key}" if section else key), env
        assert doc_type == typ.__name__, (env, doc_type)
        actual = getattr(getattr(config, section) if section else config, key)
        if env == "VMS_REDACTION_CLASSES":  # too long for the table: its start is shown
            shown = re.findall(r"`([^`]*)`", doc_default)[0].split(",...")[0]
            assert _as_written(actual).startswith(shown), (env, shown)
            continue
        written = doc_default.strip("`").strip('"')
        assert written in (_as_written(actual), f"./{actual}"), (env, doc_default, actual)
