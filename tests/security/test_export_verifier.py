"""The standalone package verifier (``verify.py``) against a forger and a defence expert
(INV-8): whatever is done to a package, the answer is a ``FAILED: <file>: <why>`` line
and exit status 1 (2: not a package at all), never a traceback and never ``OK``.

Packages are written by the real writer (:func:`write_package`) with small stand-in
clips: the verifier checks bytes, not pictures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vms.errors import FailedPrecondition
from vms.exports import package as package_module
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


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def resigned(package: Path, target: Path, manifest: bytes, key: Ed25519PrivateKey) -> Path:
    """``package`` with ``manifest`` as its manifest, signed by ``key`` and carrying its
    public key: what a forger without the agency's key makes (only ``--fingerprint``
    tells it apart), or the agency's own key signing a manifest it should never make."""
    pem = public_pem(key)
    with zipfile.ZipFile(package) as zf, zipfile.ZipFile(target, "w") as out:
        for info in zf.infolist():
            if info.filename not in ("manifest.json", "manifest.sig", "signing-key.pem"):
                out.writestr(info, zf.read(info))
        out.writestr("signing-key.pem", pem)
        out.writestr("manifest.json", manifest)
        out.writestr("manifest.sig", key.sign(manifest))
    return target


def key_fingerprint(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def manifest_of(package: Path, key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """The package's manifest; with ``key``, made over to name that key (its fingerprint,
    and the size and hash of the ``signing-key.pem`` that :func:`resigned` puts in)."""
    with zipfile.ZipFile(package) as zf:
        loaded: dict[str, Any] = json.loads(zf.read("manifest.json"))
    if key is not None:
        pem = public_pem(key)
        loaded["signing_key"]["fingerprint"] = key_fingerprint(key)
        for entry in loaded["files"]:
            if entry["path"] == "signing-key.pem":
                entry.update(size=len(pem), sha256=hashlib.sha256(pem).hexdigest())
    return loaded


def _bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()


def _files_entry_without_size(m: dict[str, Any]) -> None:
    del m["files"][0]["size"]


def _files_not_a_list(m: dict[str, Any]) -> None:
    m["files"] = {"clips/cam-01.mp4": 1}


def _path_not_a_string(m: dict[str, Any]) -> None:
    m["files"][0]["path"] = ["clips", "cam-01.mp4"]


def _clip_without_file(m: dict[str, Any]) -> None:
    del m["clips"][0]["file"]


def _audit_seq_a_string(m: dict[str, Any]) -> None:
    m["audit"] = [
        {"seq": "7", "prev_hash": "a", "hash": "b"},
        {"seq": 8, "prev_hash": "b", "hash": "c"},
    ]


def _signing_key_a_string(m: dict[str, Any]) -> None:
    m["signing_key"] = "Ed25519"


@pytest.mark.parametrize(
    "spoil",
    [
        _files_entry_without_size,
        _files_not_a_list,
        _path_not_a_string,
        _clip_without_file,
        _audit_seq_a_string,
        _signing_key_a_string,
    ],
)
def test_a_signed_manifest_of_the_wrong_shape_fails_naming_the_manifest_INV_8(
    package: Path, tmp_path: Path, spoil: Callable[[dict[str, Any]], None]
) -> None:
    """Signed is not well-formed: a manifest signed by some key (a forger's, or ours by a
    bug) with a field missing or of the wrong type is reported, not a KeyError or
    TypeError traceback."""
    key = Ed25519PrivateKey.generate()
    manifest = manifest_of(package, key)
    assert verdict(str(resigned(package, tmp_path / "fine.zip", _bytes(manifest), key)))[0] == 0
    spoil(manifest)
    status, out = verdict(str(resigned(package, tmp_path / "odd.zip", _bytes(manifest), key)))
    assert status == 1, out
    assert out.startswith("FAILED: manifest.json: malformed"), out


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b'"a string"'],
    ids=["a-list", "nested-100000-deep", "a-string"],
)
def test_a_signed_manifest_that_is_not_an_object_fails_INV_8(
    package: Path, tmp_path: Path, body: bytes
) -> None:
    key = Ed25519PrivateKey.generate()
    status, out = verdict(str(resigned(package, tmp_path / "odd.zip", body, key)))
    assert status == 1, out
    assert out.startswith("FAILED: manifest.json: "), out


def test_a_manifest_with_a_key_twice_fails_even_signed_by_our_key_INV_8(
    package: Path, tmp_path: Path, signer: ExportSigner
) -> None:
    """JSON readers differ on a key given twice (Python keeps the last, others the first):
    a signed manifest saying two things in one place must not be called verified, whatever
    this verifier's parser would have picked."""
    body = manifest_of(package)
    text = json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False)
    doubled = text.replace('"case_number": "C-1"', '"case_number": "C-2",\n  "case_number": "C-1"')
    assert doubled != text
    key = serialization.load_pem_private_key(
        (tmp_path / "secrets" / "export-signing.pem").read_bytes(), password=None
    )
    assert isinstance(key, Ed25519PrivateKey)
    status, out = verdict(
        str(resigned(package, tmp_path / "twice.zip", (doubled + "\n").encode(), key)),
        "--fingerprint",
        signer.fingerprint,
    )
    assert status == 1, out
    assert out.startswith("FAILED: manifest.json: malformed"), out
    assert "case_number" in out, out


def test_a_signed_manifest_listing_a_file_twice_fails_INV_8(package: Path, tmp_path: Path) -> None:
    """Two entries for one path with different hashes: whichever the verifier kept, the
    other tells a different story."""
    key = Ed25519PrivateKey.generate()
    manifest = manifest_of(package, key)
    [clip] = [f for f in manifest["files"] if f["path"] == CLIP]
    manifest["files"].insert(0, {**clip, "sha256": "0" * 64})
    status, out = verdict(str(resigned(package, tmp_path / "twice.zip", _bytes(manifest), key)))
    assert status == 1, out
    assert out.startswith(f"FAILED: manifest.json: malformed: {CLIP} is listed more than once"), out


def with_members(package: Path, target: Path, *extra: tuple[str, bytes]) -> Path:
    """``package`` with more members (name, bytes) written after its own."""
    with zipfile.ZipFile(package) as zf, zipfile.ZipFile(target, "w") as out:
        for info in zf.infolist():
            out.writestr(info, zf.read(info))
        for name, data in extra:
            out.writestr(zipfile.ZipInfo(name), data)
    return target


@pytest.mark.parametrize(
    "entry",
    [("clips/extra.mp4/", b"pictures the manifest does not cover"), ("notes/", b"")],
    ids=["folder-entry-holding-data", "folder-of-no-listed-file"],
)
def test_an_unlisted_folder_entry_in_the_zip_fails_INV_8(
    package: Path, tmp_path: Path, entry: tuple[str, bytes]
) -> None:
    """A ZIP member whose name ends in ``/`` is a folder to every unzip tool, yet it can
    hold bytes: the verifier passed over all of them, so a package with content the
    manifest does not list (or a folder it does not name) was "OK"."""
    doctored = with_members(package, tmp_path / "doctored.zip", entry)
    status, out = verdict(str(doctored))
    assert status == 1, out
    assert out.startswith(f"FAILED: {entry[0]}: "), out


def test_folder_entries_of_listed_files_are_accepted(package: Path, tmp_path: Path) -> None:
    """``zip -r`` of the unpacked folder adds an entry for ``clips/``: still the package."""
    rezipped = with_members(package, tmp_path / "rezipped.zip", ("clips/", b""))
    status, out = verdict(str(rezipped))
    assert status == 0, out


def with_bomb(package: Path, target: Path, name: str, size: int) -> Path:
    """``package`` with member ``name`` replaced by ``size`` zero bytes, deflated (about
    a thousandth of that on disk): a few hundred KB that inflate to hundreds of MB."""
    with zipfile.ZipFile(package) as zf, zipfile.ZipFile(target, "w", compresslevel=1) as out:
        for info in zf.infolist():
            if info.filename != name:
                out.writestr(info, zf.read(info))
        block = bytes(1 << 20)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with out.open(info, "w", force_zip64=True) as member:
            for _ in range(size >> 20):
                member.write(block)
    assert target.stat().st_size < size // 100  # a bomb, not a big file
    return target


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One package per member blown up to 300 MiB (made once: deflating takes a while)."""
    root = tmp_path_factory.mktemp("bombs")
    key = load_or_create_signer(root / "secrets")
    clip = root / "cam-01.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    draft = ExportDraft(
        "exp-b", T0, "investigator", "investigator", "court", None, "keyframe", (), {}
    )
    made = write_package(
        root / "export.zip", draft, [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())], key
    )
    names = ("manifest.json", "manifest.sig", "signing-key.pem")
    return {n: with_bomb(made.path, root / f"{n}.zip", n, 300 << 20) for n in names}


@pytest.mark.parametrize("member", ["manifest.json", "manifest.sig", "signing-key.pem"])
def test_a_zip_bomb_member_is_refused_before_it_is_inflated_INV_8(
    bombs: dict[str, Path], member: str
) -> None:
    """The verifier read the manifest, its signature and the key whole into memory before
    checking anything: a package of a few hundred KB made it hold 600 MB (twice the
    inflated member). A signature has 64 bytes, a public key a few hundred; a manifest
    over the verifier's limit is refused by its declared size, before it is read."""
    tracemalloc.start()
    try:
        status, out = verdict(str(bombs[member]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 1, out
    assert out.startswith(f"FAILED: {member}: 314572800 bytes"), out
    assert peak < 32 << 20, f"the verifier held {peak >> 20} MiB"


def test_the_writer_refuses_a_manifest_its_verifier_would_refuse_INV_8(
    tmp_path: Path, signer: ExportSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verifier's manifest limit is the writer's too: no package is made that its own
    ``verify.py`` calls FAILED (and no ``.part`` is left)."""
    monkeypatch.setattr(package_module, "MAX_MANIFEST_BYTES", 2000)
    clip = tmp_path / "cam-01.mp4"
    clip.write_bytes(b"x" * 100)
    draft = ExportDraft("exp-big", T0, "inv", "investigator", "p" * 3000, None, "keyframe", (), {})
    with pytest.raises(FailedPrecondition, match="over the verifier's limit of 2000"):
        write_package(
            tmp_path / "big.zip", draft, [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())], signer
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam-01.mp4", "secrets"]


def _member_named(package: Path, target: Path, old: str, new: str) -> Path:
    """``package`` with member ``old`` stored under the name ``new`` (bytes unchanged)."""
    with zipfile.ZipFile(package) as zf, zipfile.ZipFile(target, "w") as out:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == old:
                info = zipfile.ZipInfo(new, info.date_time)
            out.writestr(info, data)
    return target


@pytest.mark.parametrize(
    "name",
    ["../cam-01.mp4", "/tmp/cam-01.mp4", "clips\\..\\..\\cam-01.mp4", "C:/cam-01.mp4"],
    ids=["dot-dot", "absolute", "backslashes", "drive-letter"],
)
def test_a_member_that_would_land_outside_the_folder_fails_even_listed_INV_8(
    package: Path, tmp_path: Path, name: str
) -> None:
    """A package signed by a key of someone's own lists a clip under a name an unzip tool
    writes outside the folder it unpacks into. Such a package is never "OK", whatever
    key signed it: a recipient runs verify.py on the ZIP before unpacking it."""
    key = Ed25519PrivateKey.generate()
    moved = _member_named(package, tmp_path / "moved.zip", CLIP, name)
    manifest = manifest_of(package, key)
    for entry in manifest["files"]:
        if entry["path"] == CLIP:
            entry["path"] = name
    for clip in manifest["clips"]:
        clip["file"] = name
    status, out = verdict(str(resigned(moved, tmp_path / "out.zip", _bytes(manifest), key)))
    assert status == 1, out
    assert out.startswith(f"FAILED: {name}: "), out
    assert "outside" in out, out


def test_a_member_name_with_a_nul_fails_INV_8(package: Path, tmp_path: Path) -> None:
    """Python reads a name up to its first NUL; other tools may not: the clip named
    ``clips/cam-01.mp4<NUL>.exe`` is ``clips/cam-01.mp4`` to the verifier only."""
    # zipfile will not write a NUL in a name: write a stand-in, then put the NUL in place
    # (the local header and the central directory both hold the name).
    renamed = _member_named(package, tmp_path / "nul.zip", CLIP, CLIP + "#.exe")
    data = renamed.read_bytes()
    assert data.count(b"cam-01.mp4#.exe") == 2
    renamed.write_bytes(data.replace(b"cam-01.mp4#.exe", b"cam-01.mp4\x00.exe"))
    status, out = verdict(str(renamed))
    assert status == 1, out
    assert out.startswith(f"FAILED: {CLIP}"), out
    assert "NUL" in out, out


@pytest.fixture
def unpacked(package: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(folder)
    return folder


def test_a_link_to_a_folder_of_other_clips_in_the_unpacked_package_fails_INV_8(
    unpacked: Path, tmp_path: Path
) -> None:
    """In an unpacked package, a symbolic link to a folder elsewhere shows its files in
    the package to anyone browsing it, yet the verifier's walk did not enter it: a folder
    of clips the manifest does not list was "OK"."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cam-02.mp4").write_bytes(b"pictures nobody signed")
    (unpacked / "more-clips").symlink_to(elsewhere, target_is_directory=True)
    status, out = verdict(str(unpacked))
    assert status == 1, out
    assert out.startswith("FAILED: more-clips: "), out


def test_a_dangling_link_in_the_unpacked_package_fails_INV_8(unpacked: Path) -> None:
    (unpacked / "clips" / "cam-02.mp4").symlink_to(unpacked / "nowhere.mp4")
    status, out = verdict(str(unpacked))
    assert status == 1, out
    assert out.startswith("FAILED: clips/cam-02.mp4: "), out


@pytest.fixture(scope="module")
def clip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package whose clip is replaced by a member of 2 GiB of zeros (about 2 MB)."""
    root = tmp_path_factory.mktemp("clip-bomb")
    key = load_or_create_signer(root / "secrets")
    clip = root / "cam-01.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    draft = ExportDraft(
        "exp-c", T0, "investigator", "investigator", "court", None, "keyframe", (), {}
    )
    made = write_package(
        root / "export.zip", draft, [ClipFile(clip, "cam", T0, 1.0, T0, T0, (), ())], key
    )
    return with_bomb(made.path, root / "bomb.zip", CLIP, 2 << 30)


@pytest.mark.slow  # the bomb takes about 10 s to make
def test_a_clip_bigger_than_listed_is_refused_before_it_is_read_INV_8(clip_bomb: Path) -> None:
    """Anyone can swap a clip of a package for a member of a few MB that inflates to GBs:
    the verifier inflated and hashed all of it before comparing its size with the
    manifest's (seconds per GB: a 300 MB package kept it busy for a quarter of an hour).
    The size each member declares is compared first."""
    started = time.monotonic()
    status, out = verdict(str(clip_bomb))
    elapsed = time.monotonic() - started
    assert status == 1, out
    assert out.startswith(f"FAILED: {CLIP}: {2 << 30} bytes, the manifest says "), out
    assert elapsed < 0.5, f"the verifier read the bomb for {elapsed:.1f} s"
