"""The standalone audit-export verifier (``verify_audit_export.py``) against someone who
edits the exported file (INV-4, INV-8): "intact" must mean that everything the file
says is covered by the signatures, not only the fields the verifier happens to hash.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vms.audit import verify_export
from vms.audit.log import Who
from vms.services import Services

WHO = Who("tester", "admin")


def export_of(services: Services) -> dict[str, Any]:
    for i in range(4):
        services.audit.record(services.db, WHO, "media.view", f"media:m{i}", details={"i": i})
    return services.checkpoints.export(None, None)


def verdict(path: Path) -> tuple[int, str]:
    """``verify_audit_export.main([path])``: exit status and what it printed (stdout and
    stderr). A traceback fails the test."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = verify_export.main([str(path)])
    return status, out.getvalue()


def _note_on_an_entry(doc: dict[str, Any]) -> str:
    entry = doc["entries"][1]
    entry["note"] = "viewing approved by the chief"
    return f"entry {entry['seq']}: "


def _note_on_the_export(doc: dict[str, Any]) -> str:
    doc["comment"] = "entries 3-9 were removed at the request of the records unit"
    return "export: "


def _note_on_a_checkpoint(doc: dict[str, Any]) -> str:
    cp = doc["checkpoints"][-1]
    cp["witnessed_by"] = "sergeant b"
    return f"checkpoint {cp['seq']}: "


def _another_key_named_on_a_checkpoint(doc: dict[str, Any]) -> str:
    cp = doc["checkpoints"][-1]
    cp["key_fingerprint"] = "0" * 64
    return f"checkpoint {cp['seq']}: "


@pytest.mark.parametrize(
    "edit",
    [
        _note_on_an_entry,
        _note_on_the_export,
        _note_on_a_checkpoint,
        _another_key_named_on_a_checkpoint,
    ],
)
def test_a_field_no_signature_covers_is_not_intact_INV_4(
    services: Services, tmp_path: Path, edit: Callable[[dict[str, Any]], str]
) -> None:
    """An entry's SHA-256 covers its chain fields and a checkpoint's signature its seq,
    hashes and time: a field added beside them (or a checkpoint's key fingerprint, which
    nothing signs) was passed over, so an edited export read as "intact" while saying
    something its signer never said."""
    doc = export_of(services)
    path = tmp_path / "audit-export.json"
    path.write_text(json.dumps(doc))
    assert verdict(path)[0] == 0
    where = edit(doc)
    path.write_text(json.dumps(doc))
    status, out = verdict(path)
    assert status == 1, out
    assert f"audit export INVALID: {where}" in out, out


def test_a_key_given_twice_is_not_intact_INV_4(services: Services, tmp_path: Path) -> None:
    """JSON readers differ on a key given twice (Python keeps the last, others the first):
    an entry saying two actors at once must not be called intact because the verifier's
    parser happened to keep the signed one."""
    doc = export_of(services)
    entry = doc["entries"][1]
    text = json.dumps(doc)
    signed = json.dumps(entry)
    doubled = signed.replace('{"seq"', '{"actor": "someone-else", "seq"', 1)
    assert signed in text and doubled != signed
    path = tmp_path / "audit-export.json"
    path.write_text(text.replace(signed, doubled, 1))
    status, out = verdict(path)
    assert status in (1, 2), out
    assert "'actor' is given twice" in out, out


def test_a_file_nested_too_deep_is_reported_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "audit-export.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    status, out = verdict(path)
    assert status == 2, out
    assert f"cannot read {path}" in out, out
