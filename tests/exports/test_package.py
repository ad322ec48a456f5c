"""The export package (issue 15, item 4): a clip cut from the real recording, signed
manifest, and the standalone ``verify.py`` run in a separate, clean virtualenv holding
only ``cryptography`` (no VMS): it passes on the package, unpacked or zipped, and fails
naming the file when one byte of a clip, the manifest or the signature changes, or a
file is removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.exports.conftest import Recording
from vms.audit.chain import Link, link_hash
from vms.exports import verify
from vms.exports.manifest import AuditRecord, CustodyRecord, GapRecord, SourceItem
from vms.exports.package import ClipFile, ExportDraft, Package, write_package
from vms.exports.signing import KEY_FILE, ExportSigner, load_or_create_signer
from vms.media.clip import cut_clips

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

AUDIT_KEY = b"k" * 32


def audit_chain(n: int, first_seq: int = 7) -> tuple[AuditRecord, ...]:
    """``n`` consecutive entries hashed as the audit log hashes them."""
    t0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    entries, prev = [], "a" * 64
    for i in range(n):
        link = Link(
            first_seq + i,
            t0 + dt.timedelta(seconds=i),
            "investigator",
            "investigator",
            "media.view",
            "media:x",
            {"n": i},
            "ok",
            prev,
        )
        digest = link_hash(AUDIT_KEY, link)
        entries.append(AuditRecord(**link.__dict__, hash=digest))
        prev = digest
    return tuple(entries)


@dataclass
class Made:
    package: Package
    signer: ExportSigner
    secrets: Path


def make_package(rec: Recording, tmp: Path, audit: tuple[AuditRecord, ...] | None) -> Made:
    start, end = rec.at(1.5), rec.at(7.2)
    cut = cut_clips(rec.segments, start, end, tmp, mode="keyframe", stem="cam")
    secrets = tmp / "secrets"
    signer = load_or_create_signer(secrets)
    used = {s for clip in cut.clips for s in clip.sources}
    sources = tuple(
        SourceItem(
            seg.label,
            rec.sha256[seg.label],
            seg.path.stat().st_size,
            seg.start,
            seg.end,
            0,
            (CustodyRecord(seg.start, "recorder", "ingest", {"source": "fixed"}),),
        )
        for seg in rec.segments
        if seg.label in used
    )
    draft = ExportDraft(
        "exp-1",
        dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC),
        "investigator",
        "investigator",
        "court copy for case 2026-17",
        "2026-17",
        "keyframe",
        sources,
        {"export-cam": tuple(GapRecord(g.start, g.end) for g in cut.gaps)},
        audit,
    )
    clips = [
        ClipFile(c.path, "export-cam", c.start, c.seconds, start, end, c.sources, (0,))
        for c in cut.clips
    ]
    return Made(write_package(tmp / "export.zip", draft, clips, signer), signer, secrets)


@pytest.fixture(scope="module")
def made(recorded: Recording, tmp_path_factory: pytest.TempPathFactory) -> Made:
    return make_package(recorded, tmp_path_factory.mktemp("package"), audit_chain(3))


@pytest.fixture
def unpacked(made: Made, tmp_path: Path) -> Path:
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(made.package.path) as zf:
        zf.extractall(folder)
    return folder


def run_verifier(python: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python verify.py ARGS`` in ``folder``, as the README tells the recipient."""
    return subprocess.run(
        [str(python), "verify.py", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},  # no PYTHONPATH: nothing of ours
    )


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    where = len(data) // 2 if at is None else at
    data[where] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_key_is_kept_in_the_secrets_folder_readable_only_by_its_owner(made: Made) -> None:
    key = made.secrets / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_or_create_signer(made.secrets).fingerprint == made.signer.fingerprint
    assert b"PRIVATE KEY" in key.read_bytes()
    with zipfile.ZipFile(made.package.path) as zf:
        assert all(b"PRIVATE" not in zf.read(n) for n in zf.namelist())


def test_the_package_holds_what_the_manifest_lists(made: Made) -> None:
    package = made.package
    with zipfile.ZipFile(package.path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        clip = zf.read("clips/cam-01.mp4")
    assert names == {
        "clips/cam-01.mp4",
        "verify.py",
        "README.txt",
        "signing-key.pem",
        "manifest.json",
        "manifest.sig",
    }
    assert manifest["export_id"] == "exp-1" and manifest["case_number"] == "2026-17"
    assert manifest["created_by"] == {"user": "investigator", "role": "investigator"}
    assert manifest["cut_mode"] == "keyframe"
    assert manifest["signing_key"]["fingerprint"] == made.signer.fingerprint
    [entry] = manifest["clips"]
    assert entry["sha256"] == hashlib.sha256(clip).hexdigest()
    assert 5.7 <= entry["duration_seconds"] <= 5.7 + 1.1
    assert entry["source_items"] == [s["media_id"] for s in manifest["sources"]]
    assert all(s["custody"][0]["action"] == "ingest" for s in manifest["sources"])
    assert [a["seq"] for a in manifest["audit"]] == [7, 8, 9]
    assert package.size == package.path.stat().st_size
    assert not package.path.with_name("export.zip.part").exists()


def test_verify_py_passes_in_a_clean_virtualenv_unpacked_and_zipped(
    made: Made, unpacked: Path, clean_python: Path
) -> None:
    done = run_verifier(clean_python, unpacked)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: export exp-1") and made.signer.fingerprint in done.stdout
    zipped = run_verifier(clean_python, unpacked, str(made.package.path))
    assert zipped.returncode == 0, zipped.stdout + zipped.stderr
    pinned = run_verifier(clean_python, unpacked, "--fingerprint", made.signer.fingerprint)
    assert pinned.returncode == 0, pinned.stdout


@pytest.mark.parametrize(
    ("target", "damage", "named"),
    [
        ("clips/cam-01.mp4", "flip", "clips/cam-01.mp4"),
        ("clips/cam-01.mp4", "flip-last", "clips/cam-01.mp4"),
        ("manifest.json", "flip", "manifest.json"),
        ("manifest.sig", "flip", "manifest.sig"),
        ("clips/cam-01.mp4", "remove", "clips/cam-01.mp4"),
        ("README.txt", "remove", "README.txt"),
        ("manifest.sig", "remove", "manifest.sig"),
        ("signing-key.pem", "remove", "signing-key.pem"),
    ],
)
def test_verify_py_fails_naming_the_damaged_or_missing_file(
    unpacked: Path, clean_python: Path, target: str, damage: str, named: str
) -> None:
    path = unpacked / target
    if damage == "remove":
        path.unlink()
    else:
        flip(path, path.stat().st_size - 1 if damage == "flip-last" else None)
    done = run_verifier(clean_python, unpacked)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("FAILED: ") and named in done.stdout, done.stdout


def test_verify_py_fails_on_a_byte_changed_inside_the_zip(
    made: Made, unpacked: Path, clean_python: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.zip"
    shutil.copy(made.package.path, damaged)
    with zipfile.ZipFile(damaged) as zf:
        info = zf.getinfo("clips/cam-01.mp4")
    # A stored member: its data starts after the local header (30 bytes, name, extra).
    data = bytearray(damaged.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    flip(damaged, info.header_offset + 30 + name_len + extra_len + info.file_size // 2)
    done = run_verifier(clean_python, unpacked, str(damaged))
    assert done.returncode == 1 and "clips/cam-01.mp4" in done.stdout, done.stdout


def test_an_unlisted_file_and_a_wrong_fingerprint_fail(
    made: Made, unpacked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (unpacked / "clips" / "extra.mp4").write_bytes(b"not evidence")
    assert verify.main([str(unpacked)]) == 1
    assert "clips/extra.mp4: in the package but not listed" in capsys.readouterr().out
    (unpacked / "clips" / "extra.mp4").unlink()
    assert verify.main([str(unpacked), "--fingerprint", "0" * 64]) == 1
    assert "signing-key.pem: fingerprint" in capsys.readouterr().out
    assert verify.main([str(unpacked)]) == 0


def test_a_broken_audit_link_fails_even_when_signed(
    recorded: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = list(audit_chain(3))
    chain[2] = replace(chain[2], prev_hash="f" * 64)  # entry 9 no longer follows 8
    made = make_package(recorded, tmp_path, tuple(chain))
    assert verify.main([str(made.package.path)]) == 1
    assert "audit entry 9 does not link to entry 8" in capsys.readouterr().out
    # Entries that are not consecutive are not links: nothing to check between them.
    apart = (audit_chain(1, first_seq=3)[0], audit_chain(1, first_seq=12)[0])
    (tmp_path / "b").mkdir()
    other = make_package(recorded, tmp_path / "b", apart)
    assert verify.main([str(other.package.path)]) == 0


def test_a_failed_write_leaves_neither_package_nor_part(made: Made, tmp_path: Path) -> None:
    draft = ExportDraft(
        "exp-2",
        dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
        "a",
        "admin",
        "p",
        None,
        "keyframe",
        (),
        {},
    )
    missing = ClipFile(
        tmp_path / "gone.mp4",
        "cam",
        draft.created_at,
        1.0,
        draft.created_at,
        draft.created_at,
        (),
        (),
    )
    with pytest.raises(FileNotFoundError):
        write_package(tmp_path / "x.zip", draft, [missing], made.signer)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # Nor a thread: a hasher left waiting for blocks held the test process at exit (CI
    # ran into its 90-minute limit).
    assert [t.name for t in threading.enumerate() if t.name.startswith("export-hash-")] == []


def test_a_second_member_under_a_listed_name_fails_INV_8(
    made: Made, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ZIP may hold two members of the same name: the verifier reads one (Python's
    zipfile, the last) while an unzip tool that keeps the first (``unzip -n``, 7-Zip's
    "skip existing") extracts the other. A package with a clip of different pictures
    placed before the signed one is not covered by the manifest and must fail (INV-8)."""
    doctored = tmp_path / "doctored.zip"
    with (
        zipfile.ZipFile(made.package.path) as zf,
        zipfile.ZipFile(doctored, "w") as out,
        pytest.warns(UserWarning, match="Duplicate name"),
    ):
        out.writestr("clips/cam-01.mp4", b"other pictures")
        for info in zf.infolist():
            out.writestr(info, zf.read(info))
    with zipfile.ZipFile(doctored) as zf:  # the second copy is the one zipfile reads
        assert zf.read("clips/cam-01.mp4") != b"other pictures"
    assert verify.main([str(doctored)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: clips/cam-01.mp4" in out and "more than once" in out, out


def test_an_unlisted_file_in_a_pycache_folder_fails_INV_8(
    unpacked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the verifier's own bytecode (``__pycache__/verify.*.pyc``, written when it is
    imported) may lie unlisted beside the package: not any file in any ``__pycache__``."""
    (unpacked / "__pycache__").mkdir()
    (unpacked / "__pycache__" / "verify.cpython-311.pyc").write_bytes(b"bytecode")
    assert verify.main([str(unpacked)]) == 0
    capsys.readouterr()
    hidden = unpacked / "clips" / "__pycache__"
    hidden.mkdir()
    (hidden / "cam-02.mp4").write_bytes(b"not evidence")
    assert verify.main([str(unpacked)]) == 1
    out = capsys.readouterr().out
    assert "clips/__pycache__/cam-02.mp4: in the package but not listed" in out, out
