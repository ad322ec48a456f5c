"""Installation secrets (vms/secrets.py): made once, atomically, whoever asks first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vms.errors import DataLoss
from vms.secrets import load_or_create_key, load_or_create_signing_key


def _together(n: int, make: object) -> list[object]:
    """``make()`` called by ``n`` threads released at once; what each got (or raised)."""
    assert callable(make)
    barrier = threading.Barrier(n)
    got: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            got.append(make())
        except Exception as exc:  # collected: the test names it
            got.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_a_key_made_by_several_callers_at_once_is_one_key_for_all(tmp_path: Path) -> None:
    """INV-4: the internal API token is first read by request threads, and every node of a
    deployment reads the one secrets folder (container processes often share a pid). The
    temporary file was named by pid: callers at once truncated and unlinked each other's,
    so a caller failed (FileNotFoundError) or could read the key half written. Each writes
    its own temporary file; the first link wins and everyone reads that key."""
    for n in range(20):
        folder = tmp_path / f"secrets-{n}"
        got = _together(6, lambda: load_or_create_key(folder, "internal-api.key"))
        assert not [g for g in got if isinstance(g, Exception)], got
        assert len(set(got)) == 1 and len(got[0]) == 32  # type: ignore[arg-type]
        assert [p.name for p in folder.iterdir()] == ["internal-api.key"]  # no temp left


def test_a_signing_key_made_at_once_is_one_key(tmp_path: Path) -> None:
    for n in range(10):
        folder = tmp_path / f"secrets-{n}"
        got = _together(4, lambda: load_or_create_signing_key(folder, "audit-signing.pem"))
        assert not [g for g in got if isinstance(g, Exception)], got
        raw = {g.public_key().public_bytes_raw() for g in got}  # type: ignore[attr-defined]
        assert len(raw) == 1


def test_an_empty_or_damaged_key_file_is_refused_naming_it_INV_4(tmp_path: Path) -> None:
    """INV-4: an empty ``audit.key`` (a restore that ran out of room, a ``touch`` by hand)
    was taken as the key ``b""``: the audit chain went on under an empty HMAC key that
    anyone can recompute, and an empty ``internal-api.key`` made the internal API's
    token the empty string. Text that is not 64 hex digits raised a bare ValueError.
    Both are refused, naming the file; nothing is replaced (the old key may be in a
    backup)."""
    for text in ("", "\n", "abcd\n", "not hex at all, not a key\n"):
        folder = tmp_path / f"secrets-{len(text)}"
        folder.mkdir()
        (folder / "audit.key").write_text(text)
        with pytest.raises(DataLoss, match=r"audit\.key") as refused:
            load_or_create_key(folder, "audit.key")
        assert "64 hexadecimal digits" in refused.value.message
        assert (folder / "audit.key").read_text() == text


def test_an_empty_or_damaged_signing_key_is_refused_naming_it(tmp_path: Path) -> None:
    """An empty or damaged ``audit-signing.pem`` stopped the start with cryptography's
    bare ValueError, naming no file; it is a DataLoss naming the file, left as it is."""
    for text in ("", "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n"):
        folder = tmp_path / f"secrets-{len(text)}"
        folder.mkdir()
        (folder / "audit-signing.pem").write_text(text)
        with pytest.raises(DataLoss, match=r"audit-signing\.pem"):
            load_or_create_signing_key(folder, "audit-signing.pem")
        assert (folder / "audit-signing.pem").read_text() == text
