"""The ``vms`` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import store_env
from tests.media import make_video
from tests.vms.test_crash_safety import run_cli
from vms.config import Config
from vms.db.models import AuditEntry
from vms.services import Services


def test_init_is_idempotent_and_user_add(config: Config) -> None:
    for _ in range(2):
        r = run_cli(
            config, "init", "--admin-user", "chief", "--password-stdin", stdin="chief-password\n"
        )
        assert r.returncode == 0, r.stderr
    r = run_cli(
        config,
        "user",
        "add",
        "ofc",
        "--role",
        "officer",
        "--password-stdin",
        "--badge",
        "B77",
        "--supervisor",
        "sergeant",
        stdin="pw-12345678\n",
    )
    assert r.returncode == 0, r.stderr
    again = ("user", "add", "ofc", "--role", "officer", "--password-stdin")
    r = run_cli(config, *again, stdin="pw-12345678")
    assert r.returncode == 5 and "already exists" in r.stderr
    r = run_cli(config, "user", "add", "x", "--role", "officer", "--password-stdin", stdin="short")
    assert r.returncode == 2 and "at least 8 characters" in r.stderr
    r = run_cli(config, "user", "list")
    assert "chief\tadmin" in r.stdout and "ofc\tofficer\tB77" in r.stdout


def test_ingest_list_show(config: Config, tmp_path: Path) -> None:
    clip = tmp_path / "dash.mp4"
    make_video(clip, seconds=1)
    r = run_cli(
        config,
        "ingest",
        str(clip),
        "--source",
        "dash",
        "--device",
        "DASH-12",
        "--officer",
        "B1",
        "--recorded-at",
        "2026-11-20T10:00:00Z",
        "--title",
        "Pursuit",
        "--category",
        "Warrant Detail",
        "--case",
        "C-1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["duplicate"] is False and len(out["sha256"]) == 64
    r = run_cli(config, "media", "list", "--json")
    items = json.loads(r.stdout)
    assert [i["id"] for i in items] == [out["id"]]
    r = run_cli(config, "media", "show", out["id"], "--json")
    shown = json.loads(r.stdout)
    assert shown["recorded_start"] == "2026-11-20T10:00:00Z"
    assert shown["categories"] == ["Warrant Detail"] and shown["case_number"] == "C-1"
    r = run_cli(config, "ingest", str(clip), "--source", "dash", "--device", "DASH-12")
    assert r.returncode == 0 and r.stdout.startswith("duplicate of")
    r = run_cli(config, "ingest", str(tmp_path / "missing.mp4"), "--source", "bwc", "--device", "D")
    assert r.returncode == 4 and "does not exist" in r.stderr
    r = run_cli(
        config, "ingest", str(clip), "--source", "bwc", "--device", "D", "--recorded-at", "20 Nov"
    )
    assert r.returncode == 2 and "ISO 8601" in r.stderr


def test_cli_import_may_not_claim_fixed_or_an_implausible_time(
    config: Config, tmp_path: Path
) -> None:
    """#10.1: only the recorder creates fixed items, the CLI import included (refusal
    audited, exit code 3); #10.2: a recorded time outside the window is refused (2)."""
    clip = tmp_path / "planted.mp4"
    make_video(clip, seconds=1)
    r = run_cli(config, "ingest", str(clip), "--source", "fixed", "--device", "CAM-1")
    assert r.returncode == 3 and "only the recorder" in r.stderr
    r = run_cli(
        config, "ingest", str(clip), "--source", "bwc", "--device", "B",
        "--recorded-at", "2000-01-01T00:00:00Z",
    )  # fmt: skip
    assert r.returncode == 2 and "implausibly old" in r.stderr
    r = run_cli(
        config, "ingest", str(clip), "--source", "bwc", "--device", "B",
        "--recorded-at", "9999-12-31T23:59:59-14:00",
    )  # fmt: skip
    assert r.returncode == 2 and "is outside 1970-01-01T00:00:00Z .. 2200" in r.stderr
    r = run_cli(config, "media", "list", "--json")
    assert json.loads(r.stdout) == []


def test_device_assign_list_unassign(config: Config, services: Services) -> None:
    """#10.1: the CLI issues devices to officers, audited as the OS user."""
    r = run_cli(config, "device", "assign", "BWC-0042", "B1")
    assert r.returncode == 0, r.stderr
    assert "BWC-0042 (bwc) assigned to B1" in r.stdout
    r = run_cli(config, "device", "assign", "DASH-3", "B2", "--kind", "dash")
    assert r.returncode == 0, r.stderr
    r = run_cli(config, "device", "list", "--json")
    listing = json.loads(r.stdout)
    assert listing["assignment_enforced"] is False
    assert [(d["id"], d["kind"], d["officers"]) for d in listing["devices"]] == [
        ("BWC-0042", "bwc", ["B1"]),
        ("DASH-3", "dash", ["B2"]),
    ]
    r = run_cli(config, "device", "unassign", "BWC-0042", "B1")
    assert r.returncode == 0 and "assigned to nobody" in r.stdout
    r = run_cli(config, "device", "unassign", "BWC-0042", "B1")
    assert r.returncode == 4 and "not assigned" in r.stderr
    with services.db.session() as s:
        changes = s.execute(
            select(AuditEntry.action, AuditEntry.target)
            .where(AuditEntry.action.like("device.%"))
            .order_by(AuditEntry.seq)
        ).all()
        actors = set(
            s.execute(select(AuditEntry.actor).where(AuditEntry.action.like("device.%"))).scalars()
        )
    assert changes == [
        ("device.assign", "device:BWC-0042"),
        ("device.assign", "device:DASH-3"),
        ("device.unassign", "device:BWC-0042"),
    ]
    assert all(a.startswith("cli:") for a in actors)


def test_media_show_is_audited_like_the_page_ACC_6(
    config: Config, services: Services, tmp_path: Path
) -> None:
    """ACC-6: showing an item's metadata is audited (``media.detail``) on the page and
    the API; ``vms media show`` showed it straight from the table with no entry. A
    missing item is still NotFound (exit 4)."""
    clip = tmp_path / "bwc.mp4"
    make_video(clip, seconds=1)
    r = run_cli(config, "ingest", str(clip), "--source", "bwc", "--device", "BWC-9", "--json")
    assert r.returncode == 0, r.stderr
    media_id = json.loads(r.stdout)["id"]
    r = run_cli(config, "media", "show", media_id, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["device_id"] == "BWC-9"
    assert run_cli(config, "media", "show", "no-such-item").returncode == 4
    with services.db.session() as s:
        shown = s.execute(
            select(AuditEntry.actor, AuditEntry.role).where(
                AuditEntry.action == "media.detail", AuditEntry.target == f"media:{media_id}"
            )
        ).all()
    assert [(actor.startswith("cli:"), role) for actor, role in shown] == [(True, "admin")]
    assert services.audit.verify(services.db) is None


@pytest.mark.parametrize("damage", ["missing", "corrupted", "orphaned"])
def test_catalog_check_finds_damage(
    services: Services, config: Config, tmp_path: Path, damage: str
) -> None:
    clip = tmp_path / "a.mp4"
    make_video(clip, seconds=1)
    r = run_cli(config, "ingest", str(clip), "--source", "bwc", "--device", "BWC-1", "--json")
    sha = json.loads(r.stdout)["sha256"]
    stored = services.store.path_for(sha)
    assert run_cli(config, "catalog", "check", "--level", "hash").returncode == 0
    if damage == "missing":
        stored.unlink()
        level = "presence"
    elif damage == "corrupted":
        os.chmod(stored, 0o644)
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))
        level = "hash"
    else:
        orphan = services.store.path_for("f" * 64)
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"x")
        level = "presence"
    r = run_cli(config, "catalog", "check", "--level", level)
    assert r.returncode == 1
    assert f"{damage}:" in r.stdout
    if damage == "orphaned":
        r = run_cli(config, "catalog", "check", "--repair")
        assert r.returncode == 0, r.stdout
        assert (services.store.orphans / ("f" * 64)).exists()  # moved, not deleted


# What a command that talks to no camera, answers no WebRTC offer, redacts nothing and
# migrates nothing must not load: each costs 0.03-0.25 s of every ``vms`` call (the CLI
# tests run about a hundred), so their adapters import them on first use.
NOT_LOADED_AT_START = (
    "onvif",
    "zeep",
    "aiohttp",
    "aiortc",
    "cv2",
    "alembic",
    "onvif_control.simulator.camera",
)


def test_a_plain_command_loads_no_camera_webrtc_detection_or_migration_library(
    config: Config, services: Services
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(VMS_DATA_DIR=str(config.data_dir), VMS_DATABASE_URL=config.effective_database_url)
    env.update(store_env(config))
    # ``user list`` builds the whole parser (every plugin's subcommands) and opens the
    # services with every plugin installed; the modules loaded are printed after it.
    script = (
        "import sys\n"
        "from vms.cli import main\n"
        "code = main(['user', 'list'])\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "officer\tofficer\tB1" in r.stdout  # the command ran to its end
    loaded = set(r.stdout.rsplit("MODULES ", 1)[1].split())
    assert "vms.services" in loaded and "recorder.engine" in loaded  # the walk is real
    assert sorted(set(NOT_LOADED_AT_START) & loaded) == []
