"""The standalone package verifier (``verify.py``) against a forger and a defence expert
(INV-8): whatever is done to a package, the answer is a ``FAILED: <file>: <why>`` line
and exit status 1 (2: not a package at all), never a traceback and never ``OK``.

Packages are written by the real writer (:func:`write_package`) with small stand-in
clips: the verifier checks bytes, not pictures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from vms.exports import verify
from vms.exports.package import ClipFile, ExportDraft, write_package
from vms.exports.signing import ExportSigner, load_or_create_signer

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
CLIP = "clips/cam-01.mp4"


@pytest.fixture
def signer(tmp_path: Path) -> ExportSigner:
    return load_or_create_signer(tmp_path / "secrets")


@pytest.fixture
def package(tmp_path: Path, signer: ExportSigner) -> Path:
    clip = tmp_path / "cam-01.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    draft = ExportDraft(
        "exp-v", T0, "investigator", "investigator", "court", "C-1", "keyframe", (), {}
    )
    written = write_package(
        tmp_path / "export.zip",
        draft,
        [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())],
        signer,
        {"c2pa-ca.pem": b"-----BEGIN CERTIFICATE-----\n"},
    )
    return written.path


def verdict(*args: str) -> tuple[int, str]:
    """``verify.main(args)``: its exit status and what it printed. A traceback fails the
    test: the verifier must say what is wrong instead."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = verify.main(list(args))
    return status, out.getvalue()


def patched(
    package: Path, target: Path, change: Callable[[bytearray, zipfile.ZipInfo], None], name: str
) -> Path:
    """A copy of ``package`` with ``change`` applied to its bytes around member ``name``."""
    data = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo(name)
    change(data, info)
    target.write_bytes(bytes(data))
    return target


def data_offset(data: bytearray, info: zipfile.ZipInfo) -> int:
    at = info.header_offset
    name_len = int.from_bytes(data[at + 26 : at + 28], "little")
    extra_len = int.from_bytes(data[at + 28 : at + 30], "little")
    return at + 30 + name_len + extra_len


def central_entry(data: bytearray, info: zipfile.ZipInfo) -> int:
    """Where ``info``'s central directory record starts."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_len = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_len] == info.filename.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 1)
    raise AssertionError(f"{info.filename} not in the central directory")


def scramble_deflate(data: bytearray, info: zipfile.ZipInfo) -> None:
    start = data_offset(data, info)
    for i in range(start + 2, start + 12):  # the compressed stream's block headers
        data[i] ^= 0xFF


def flag_encrypted(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[info.header_offset + 6] |= 0x01
    data[central_entry(data, info) + 8] |= 0x01


def unknown_method(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[info.header_offset + 8] = 99
    data[central_entry(data, info) + 10] = 99


@pytest.mark.parametrize(
    ("member", "change"),
    [
        ("manifest.json", scramble_deflate),
        ("README.txt", scramble_deflate),
        (CLIP, flag_encrypted),
        (CLIP, unknown_method),
    ],
    ids=[
        "manifest-deflate-garbled",
        "readme-deflate-garbled",
        "clip-encrypted-flag",
        "clip-unknown-method",
    ],
)
def test_a_member_damaged_inside_the_zip_fails_naming_it_INV_8(
    package: Path, tmp_path: Path, member: str, change: Callable[[bytearray, zipfile.ZipInfo], None]
) -> None:
    """A flipped bit in a compressed member's deflate stream, a member flagged encrypted or
    stored with a method the verifier does not know: each is damage to that file, reported
    as such, not a ``zlib.error``/``RuntimeError``/``NotImplementedError`` traceback."""
    damaged = patched(package, tmp_path / "damaged.zip", change, member)
    status, out = verdict(str(damaged))
    assert status == 1, out
    assert out.startswith(f"FAILED: {member}: damaged in the ZIP"), out
