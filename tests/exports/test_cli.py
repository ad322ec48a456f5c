"""``vms export verify`` and ``vms export public-key`` (issue 15, item 4: the CLI's
share; ``vms export create`` waits for the export service)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.media import make_video
from vms.exports.package import ClipFile, ExportDraft, write_package
from vms.exports.signing import load_or_create_signer

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def vms(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(VMS_DATA_DIR=str(data_dir), VMS_DATABASE_URL=f"sqlite:///{data_dir / 'vms.db'}")
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_export_verify_and_the_published_key(tmp_path: Path) -> None:
    data = tmp_path / "var"
    shown = vms(data, "export", "public-key")
    assert shown.returncode == 0, shown.stderr
    signer = load_or_create_signer(data / "secrets")  # the key the command made
    assert signer.fingerprint in shown.stdout and "BEGIN PUBLIC KEY" in shown.stdout
    clip = tmp_path / "cam-01.mp4"
    make_video(clip, seconds=1.0)
    draft = ExportDraft("e9", T0, "admin", "admin", "test", None, "keyframe", (), {})
    package = write_package(
        tmp_path / "e9.zip",
        draft,
        [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())],
        signer,
    )
    ok = vms(data, "export", "verify", str(package.path), "--fingerprint", signer.fingerprint)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: export e9"), ok.stdout + ok.stderr
    with zipfile.ZipFile(package.path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    body = members["clips/cam-01.mp4"]
    members["clips/cam-01.mp4"] = body[:-1] + bytes([body[-1] ^ 0x01])
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    bad = vms(data, "export", "verify", str(damaged))
    assert bad.returncode == 1 and "FAILED: clips/cam-01.mp4" in bad.stdout, bad.stdout


def test_export_verify_pins_this_installations_key_INV_8(tmp_path: Path) -> None:
    """A package carries its own public key, so one made whole by someone else (another
    installation, or a forger with a key of their own) verifies under that key. The
    agency's own ``vms export verify`` knows which key is ours: without ``--fingerprint``
    it checks against it (as ``vms audit verify-export`` does), and a package signed with
    an earlier key still verifies when its published fingerprint is given."""
    data = tmp_path / "var"
    ours = load_or_create_signer(data / "secrets")
    theirs = load_or_create_signer(tmp_path / "elsewhere")
    clip = tmp_path / "cam-01.mp4"
    make_video(clip, seconds=1.0)
    draft = ExportDraft("e10", T0, "admin", "admin", "test", None, "keyframe", (), {})
    clips = [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())]
    own = write_package(tmp_path / "own.zip", draft, clips, ours)
    forged = write_package(tmp_path / "forged.zip", draft, clips, theirs)
    ok = vms(data, "export", "verify", str(own.path))
    assert ok.returncode == 0 and ok.stdout.startswith("OK: export e10"), ok.stdout + ok.stderr
    bad = vms(data, "export", "verify", str(forged.path))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"fingerprint {theirs.fingerprint} is not the expected {ours.fingerprint}" in (
        bad.stdout
    ), bad.stdout
    assert "--fingerprint" in bad.stderr, bad.stderr  # how to check an earlier key's package
    earlier = vms(data, "export", "verify", str(forged.path), "--fingerprint", theirs.fingerprint)
    assert earlier.returncode == 0, earlier.stdout + earlier.stderr
