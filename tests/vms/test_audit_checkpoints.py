"""Signed checkpoints of the audit chain and exports anyone can verify (issue 14, item 1;
INV-4, PSCS-5). Tampering is done the way an attacker with database access would: with
SQL on the tables (both databases), and on the exported file."""

from __future__ import annotations

import ast
import base64
import copy
import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update

from tests.audit_fill import Entry, fill
from tests.vms.test_crash_safety import run_cli
from vms.audit import verify_export
from vms.audit.log import Who
from vms.clock import ManualClock
from vms.db.models import AuditCheckpoint, AuditEntry, AuditHead
from vms.services import Services

ROOT = Path(__file__).resolve().parents[2]
WHO = Who("tester", "admin")


def add_entries(services: Services, n: int, tag: str = "x") -> None:
    for i in range(n):
        services.audit.record(services.db, WHO, "test.action", f"thing:{tag}{i}", details={"i": i})


def head_seq(services: Services) -> int:
    with services.db.session() as s:
        head = s.get(AuditHead, 1)
        assert head is not None
        return head.seq


# -- making checkpoints ------------------------------------------------------------------


def test_the_job_signs_every_n_entries_or_m_minutes(services: Services) -> None:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    cps = services.checkpoints
    cps.every_entries = 10
    add_entries(services, 3)
    first = cps.run()  # nothing signed yet: the first run anchors what is there
    assert first is not None and first.seq == head_seq(services)
    add_entries(services, 4)
    assert cps.run() is None  # 4 < 10 entries and under 15 minutes
    add_entries(services, 6)
    second = cps.run()
    assert second is not None and second.seq == head_seq(services)
    add_entries(services, 1)
    assert cps.run() is None
    clock.advance(dt.timedelta(minutes=15))
    third = cps.run()
    assert third is not None and third.seq == head_seq(services)
    assert cps.run() is None  # nothing new
    report = cps.verify()
    assert report.checkpoints == 3 and report.problems == [] and report.unanchored is None


def test_the_job_still_signs_every_m_minutes_after_the_clock_is_set_back_INV_4_INV_7(
    services: Services,
) -> None:
    """The last checkpoint was signed while the server's clock ran a year ahead. Before,
    once the clock was set right, it counted as signed "under 15 minutes ago" for a year:
    the tail of the log went unsigned until 1,000 more entries came (INV-4). A checkpoint
    stamped more than the period ahead of the clock is not recent."""
    clock = services.clock
    assert isinstance(clock, ManualClock)
    cps = services.checkpoints
    right = clock.now()
    add_entries(services, 3)
    clock.set(right + dt.timedelta(days=365))
    assert cps.run() is not None
    clock.set(right)  # set right: a year back
    add_entries(services, 2)
    clock.advance(dt.timedelta(minutes=15))
    made = cps.run()
    assert made is not None and made.seq == head_seq(services)
    assert cps.verify().problems == []


def test_the_signing_key_lives_outside_the_database_readable_only_by_the_service(
    services: Services,
) -> None:
    path = services.config.secrets_dir / "audit-signing.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    add_entries(services, 2)
    made = services.checkpoints.sign_now()
    assert made is not None
    log_file = services.config.data_dir / "audit" / "checkpoints.log"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert json.loads(log_file.read_text().splitlines()[-1])["seq"] == made.seq


def test_a_broken_chain_is_never_signed(services: Services) -> None:
    add_entries(services, 5)
    with services.db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(target="thing:forged"))
    with pytest.raises(Exception, match="entry 3 was altered"):
        services.checkpoints.sign_now()
    with services.db.session() as s:
        assert s.execute(select(AuditCheckpoint)).first() is None


# -- vms audit verify --------------------------------------------------------------------


def test_verify_reports_entries_not_yet_checkpointed(services: Services) -> None:
    add_entries(services, 4)
    services.checkpoints.sign_now()
    signed = head_seq(services)
    add_entries(services, 2)
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 0, run.stderr
    assert "1 signed checkpoint(s) intact" in run.stdout
    assert f"entries {signed + 1}..{signed + 2} not yet checkpointed" in run.stdout


def test_the_newest_entries_deleted_with_the_head_rewritten_are_detected(
    services: Services,
) -> None:
    """Truncation: the attacker deletes the newest entries and moves the head back so the
    keyed chain looks whole; the signed checkpoint still names an entry that is gone."""
    add_entries(services, 6)
    made = services.checkpoints.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        keep = made.seq - 3
        kept_hash = s.execute(select(AuditEntry.hash).where(AuditEntry.seq == keep)).scalar_one()
        s.execute(delete(AuditEntry).where(AuditEntry.seq > keep))
        s.execute(update(AuditHead).values(seq=keep, hash=kept_hash))
    assert services.audit.verify(services.db) is None  # the keyed chain alone sees nothing
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1
    assert f"checkpoint {made.seq}: its entry is gone" in run.stderr


def test_a_checkpoint_deleted_from_the_table_is_still_in_the_log_file(
    services: Services,
) -> None:
    add_entries(services, 3)
    made = services.checkpoints.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        s.execute(delete(AuditCheckpoint))
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1
    assert f"checkpoint {made.seq} is in" in run.stderr and "(deleted)" in run.stderr


def test_a_forged_checkpoint_is_detected(services: Services) -> None:
    add_entries(services, 3)
    made = services.checkpoints.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        s.execute(update(AuditCheckpoint).values(at=made.at + dt.timedelta(days=1)))
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1
    assert f"checkpoint {made.seq}: the signature does not match (forged)" in run.stderr


# -- exports ------------------------------------------------------------------------------


def exported(services: Services, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "audit-export.json"
    run = run_cli(services.config, "audit", "export", "--out", str(out))
    assert run.returncode == 0, run.stderr
    return out, json.loads(out.read_text())


def standalone(
    python: Path, script: Path, export: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(export.parent)}
    return subprocess.run(
        [str(python), "-I", str(script), str(export), *options],
        env=env,
        cwd=export.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _alter(doc: dict[str, Any]) -> str:
    doc["entries"][2]["target"] = "thing:innocent"
    return f"entry {doc['entries'][2]['seq']}: was altered"


def _delete_middle(doc: dict[str, Any]) -> str:
    gone = doc["entries"].pop(3)
    return f"entry {gone['seq']}: is missing"


def _truncate(doc: dict[str, Any]) -> str:
    del doc["entries"][-3:]
    last = doc["entries"][-1]["seq"]
    return f"entry {last + 1}: is missing"


def _swap(doc: dict[str, Any]) -> str:
    e = doc["entries"]
    e[4], e[5] = e[5], e[4]
    return f"entry {e[5]['seq']}: is out of order"


def _forge_checkpoint(doc: dict[str, Any]) -> str:
    cp = doc["checkpoints"][0]
    cp["chain_digest"] = hashlib.sha256(b"forged").hexdigest()
    return f"checkpoint {cp['seq']}: the signature does not match (forged)"


def _drop_the_last_checkpoint(doc: dict[str, Any]) -> str:
    doc["checkpoints"].pop()
    return "checkpoints: the export holds checkpoints"


def _edit_the_statement(doc: dict[str, Any]) -> str:
    doc["statement"]["last_seq"] -= 3
    return "statement: the signature does not match"


@pytest.mark.slow
@pytest.mark.parametrize(
    "tamper",
    [
        _alter,
        _delete_middle,
        _truncate,
        _swap,
        _forge_checkpoint,
        _drop_the_last_checkpoint,
        _edit_the_statement,
    ],
)
def test_an_export_verifies_without_the_vms_and_names_each_tampering(
    services: Services, tmp_path: Path, clean_python: Path, tamper: Any
) -> None:
    add_entries(services, 5, "a")
    middle = services.checkpoints.sign_now()
    assert middle is not None
    add_entries(services, 7, "b")
    out, doc = exported(services, tmp_path)  # signs a checkpoint at the newest entry
    assert doc["statement"]["first_seq"] == 1
    assert doc["statement"]["checkpoints"] == [middle.seq, middle.seq + 7]
    script = tmp_path / "verify_audit_export.py"
    ok = standalone(clean_python, script, out)
    assert ok.returncode == 0, ok.stderr
    assert "audit export intact" in ok.stdout

    bad = copy.deepcopy(doc)
    expected = tamper(bad)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bad))
    run = standalone(clean_python, script, tampered)
    assert run.returncode == 1
    assert expected in run.stderr, run.stderr
    via_vms = run_cli(services.config, "audit", "verify-export", str(tampered))
    assert via_vms.returncode == 1 and expected in via_vms.stderr


def test_an_entry_altered_in_the_database_before_the_export_is_caught_by_its_checkpoint(
    services: Services, tmp_path: Path
) -> None:
    """The statement is made at export time from what the table holds, so it lists the
    altered entry's hash; the checkpoint signed before the alteration does not agree."""
    add_entries(services, 8)
    made = services.checkpoints.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(actor="someone-else"))
    _out, doc = exported(services, tmp_path)
    problem = verify_export.verify(doc)
    assert problem is not None
    assert str(problem).startswith(
        f"entries 1..{made.seq}: differ from what checkpoint {made.seq} signed"
    )


def test_an_export_of_a_time_range_starts_after_a_checkpoint_and_ends_at_one(
    services: Services, tmp_path: Path
) -> None:
    clock = services.clock
    assert isinstance(clock, ManualClock)
    add_entries(services, 4, "early")
    made = services.checkpoints.sign_now()  # checkpoint at k
    assert made is not None
    k = made.seq
    clock.advance(dt.timedelta(hours=1))
    start = clock.now()
    add_entries(services, 3, "mid")  # k+1..k+3
    clock.advance(dt.timedelta(hours=1))
    end = clock.now()
    add_entries(services, 2, "late")  # k+4, k+5
    doc = services.checkpoints.export(start, end - dt.timedelta(seconds=1))
    statement = doc["statement"]
    # From just after checkpoint k; to the newest entry, signed now (nothing closer).
    assert (statement["first_seq"], statement["last_seq"]) == (k + 1, k + 5)
    assert statement["checkpoints"] == [k, k + 5]
    assert verify_export.verify(doc) is None
    first_cut = copy.deepcopy(doc)
    first_cut["entries"].pop(0)
    first_cut["statement"]["entry_sha256"].pop(0)  # even with the statement edited...
    problem = verify_export.verify(first_cut)
    assert problem is not None and problem.where == "statement"  # ...its signature fails


def test_an_export_of_an_empty_range_is_refused_naming_it(services: Services) -> None:
    add_entries(services, 2)
    out = services.config.data_dir / "x.json"
    run = run_cli(
        services.config,
        "audit",
        "export",
        "--from",
        "2001-01-01T00:00:00Z",
        "--to",
        "2001-01-02T00:00:00Z",
        "--out",
        str(out),
    )
    assert run.returncode == 2
    assert "no audit entry was recorded between 2001-01-01T00:00:00Z" in run.stderr
    assert not out.exists()


def test_the_standalone_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(Path(verify_export.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            names.add((node.module or "").split(".")[0])
    assert names - set(sys.stdlib_module_names) == {"cryptography"}


def _rewrite_with_another_key(doc: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """What someone who rewrites an export whole does: drop an entry from the middle,
    renumber and relink the rest, recompute the public digests, and sign a checkpoint
    and the statement with a key of their own (no keyed hash is needed for that)."""
    from cryptography.hazmat.primitives import serialization

    def sign(payload: bytes) -> str:
        return base64.b64encode(key.sign(payload)).decode()

    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    statement = doc["statement"]
    entries = doc["entries"]
    entries.pop(3)
    digest, prev = statement["start_digest"], statement["start_hash"]
    for i, entry in enumerate(entries):
        entry["seq"], entry["prev_hash"] = statement["first_seq"] + i, prev
        prev, digest = entry["hash"], verify_export.next_digest(digest, entry)
    last = entries[-1]["seq"]
    at = doc["checkpoints"][-1]["at"]
    found = verify_export.fingerprint(pem)
    doc["checkpoints"] = [
        {
            "seq": last,
            "at": at,
            "entry_hash": prev,
            "chain_digest": digest,
            "signature": sign(verify_export.checkpoint_payload(last, prev, digest, at)),
            "key_fingerprint": found,
        }
    ]
    statement.update(
        last_seq=last,
        entry_sha256=[verify_export.entry_sha256(e) for e in entries],
        checkpoints=[last],
        key_fingerprint=found,
    )
    doc["signature"] = sign(verify_export.statement_payload(statement))
    doc["public_key"] = pem


def test_an_export_rewritten_and_signed_with_another_key_is_refused_INV_4(
    services: Services, tmp_path: Path, clean_python: Path
) -> None:
    """INV-4: the export carries its own public key, so an export rewritten whole (an
    entry removed from the middle, everything signed again with another installation's
    or a made-up key) is consistent under that key. ``vms audit verify-export`` pins the
    installation's own key, and the standalone verifier takes ``--fingerprint``."""
    add_entries(services, 8)
    out, doc = exported(services, tmp_path)
    genuine = doc["statement"]["key_fingerprint"]
    bad = copy.deepcopy(doc)
    _rewrite_with_another_key(bad, Ed25519PrivateKey.generate())
    tampered = tmp_path / "rewritten.json"
    tampered.write_text(json.dumps(bad))
    assert verify_export.verify(bad) is None  # consistent under its own key...
    via_vms = run_cli(services.config, "audit", "verify-export", str(tampered))
    assert via_vms.returncode == 1, via_vms.stdout
    assert f"not the expected {genuine}" in via_vms.stderr
    assert run_cli(services.config, "audit", "verify-export", str(out)).returncode == 0
    script = tmp_path / "verify_audit_export.py"
    pinned = standalone(clean_python, script, tampered, "--fingerprint", genuine)
    assert pinned.returncode == 1 and f"not the expected {genuine}" in pinned.stderr
    ok = standalone(clean_python, script, out, "--fingerprint", genuine)
    assert ok.returncode == 0, ok.stderr
    # Unpinned, the verifier can only print the key and say to compare it.
    loose = standalone(clean_python, script, tampered)
    assert loose.returncode == 0 and genuine not in loose.stdout
    assert "Compare the key fingerprint" in loose.stdout


def test_an_export_of_the_log_is_itself_audited_ACC_6(services: Services, tmp_path: Path) -> None:
    """ACC-6: every export is audited, the audit log's own too (reading it through the
    API or the PTZ audit always was). ``vms audit export`` wrote a file of the whole log
    and left no trace of who took it; now ``audit.export`` names the OS user, the
    entries and the SHA-256 of the signed statement, which ties the entry to the file."""
    add_entries(services, 4)
    out, doc = exported(services, tmp_path)
    with services.db.session() as s:
        (entry,) = s.execute(
            select(AuditEntry).where(AuditEntry.action == "audit.export")
        ).scalars()
    statement = doc["statement"]
    assert entry.actor.startswith("cli:") and entry.target == "audit"
    assert (entry.details["first_seq"], entry.details["last_seq"]) == (1, statement["last_seq"])
    assert entry.seq == statement["last_seq"] + 1  # after the export: not in it
    assert (
        entry.details["statement_sha256"]
        == hashlib.sha256(verify_export.statement_payload(statement)).hexdigest()
    )
    assert entry.details["file"] == str(out.resolve())
    assert services.audit.verify(services.db) is None


def _export_peak(services: Services, out: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Bytes allocated at the peak of ``vms audit export --out out``, run in-process."""
    from vms import cli

    monkeypatch.setenv("VMS_DATA_DIR", str(services.config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", services.config.effective_database_url)
    monkeypatch.setenv("VMS_INGEST_MIN_FREE_BYTES", "0")
    tracemalloc.start()
    try:
        assert cli.main(["audit", "export", "--out", str(out)]) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_export_of_the_whole_log_streams_its_entries_ACC_6(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vms audit export`` without --from/--to exports the whole log: millions of
    entries at an agency. It built every entry as a dict, then the whole document as one
    JSON string, before writing a byte (about 2 KB of memory per entry: a log of 5
    million entries needed over 10 GB). The entries are now written as they are read;
    what stays in memory per entry is its SHA-256, which the signed statement lists
    (with its copies while the statement is signed: about 450 bytes an entry, against
    3,400 before)."""
    t0 = services.clock.now()
    fill(services, (Entry(t0, "media.view", f"media:m-{n}") for n in range(500)))
    _export_peak(services, tmp_path / "warm.json", monkeypatch)  # caches, compiled SQL
    few = _export_peak(services, tmp_path / "few.json", monkeypatch)
    fill(services, (Entry(t0, "media.view", f"media:m-{n}") for n in range(20_000)))
    many = _export_peak(services, tmp_path / "many.json", monkeypatch)
    doc = json.loads((tmp_path / "many.json").read_text())
    assert len(doc["entries"]) == len(doc["statement"]["entry_sha256"]) >= 20_500
    grown = (many - few) / 1e6
    assert grown < 20, f"20,000 more entries took {grown:.1f} MB more at the peak"
