#!/usr/bin/env python3
"""Verify a VMS export package. Needs only Python 3 and the ``cryptography`` package
(``pip install cryptography``); no VMS software.

Usage::

    python verify.py                      # the package this file was unpacked with
    python verify.py PACKAGE.zip          # a package still zipped
    python verify.py DIR --fingerprint HEX

Checks, in order, and stops at the first problem (exit status 1, naming the file):

1. ``manifest.json``, ``manifest.sig`` and ``signing-key.pem`` are present;
2. the public key's fingerprint (SHA-256 of the raw 32-byte Ed25519 key) is the one the
   manifest names and, with ``--fingerprint``, the one the agency published;
3. ``manifest.sig`` is a valid Ed25519 signature of the exact bytes of ``manifest.json``;
4. every file the manifest lists is present with its size and SHA-256, no other file
   is in the package, and no name is in a ZIP twice;
5. every clip's SHA-256 is that of its listed file;
6. the audit entries listed (if any) link up: where two entries are consecutive
   (``seq`` n and n + 1), the later one's ``prev_hash`` is the earlier one's ``hash``.

Exit status: 0 verified, 1 a problem found, 2 the package could not be read at all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "signing-key.pem"
VERIFIER = "verify.py"
CHUNK = 1 << 20
# What the signature check reads whole into memory is bounded by its declared size
# before a byte is inflated (a ZIP member of a few hundred KB can inflate to GBs). The
# writer refuses a manifest over this limit, so every package it makes verifies.
MAX_MANIFEST_BYTES = 256 << 20
MAX_KEY_BYTES = 64 << 10
SIGNATURE_BYTES = 64


class Problem(Exception):
    """The first thing found wrong: its message names the file."""


class Package:
    """The files of a package, unpacked in a folder or still in its ZIP."""

    def __init__(self, location: Path) -> None:
        self.location = location
        self._zip = zipfile.ZipFile(location) if location.is_file() else None

    def names(self) -> set[str]:
        if self._zip is not None:
            for info in self._zip.infolist():
                _check_name(info)
            members = Counter(i.filename for i in self._zip.infolist() if not i.is_dir())
            # Two members of one name: this file reads one, an unzip tool may extract
            # the other, which the manifest does not cover.
            for name in sorted(n for n, times in members.items() if times > 1):
                raise Problem(f"{name}: in the package more than once")
            return set(members)
        names: set[str] = set()
        for path in self.location.rglob("*"):
            relative = path.relative_to(self.location)
            if _own_bytecode(relative.parts):
                continue
            # A link shows files (or nothing) the walk does not check: a link to a folder
            # elsewhere puts its clips in the package for anyone browsing it.
            if path.is_symlink():
                raise Problem(f"{relative.as_posix()}: a symbolic link, not a file of the package")
            if path.is_file():
                names.add(relative.as_posix())
            elif not path.is_dir():
                raise Problem(f"{relative.as_posix()}: not a regular file")
        return names

    def folders(self) -> dict[str, int]:
        """The ZIP's folder entries (names ending in ``/``) and the bytes each holds: a
        folder entry can carry data that no unzip tool shows (an unpacked folder: none)."""
        if self._zip is None:
            return {}
        return {i.filename: i.compress_size for i in self._zip.infolist() if i.is_dir()}

    def has(self, name: str) -> bool:
        return name in self.names()

    def size(self, name: str) -> int:
        """The size ``name`` declares (its ZIP entry; its file), before it is read."""
        if not self.has(name):
            raise Problem(f"{name}: missing from the package")
        if self._zip is not None:
            return self._zip.getinfo(name).file_size
        return (self.location / name).stat().st_size

    def read(self, name: str, limit: int) -> bytes:
        """All of ``name``, which must hold at most ``limit`` bytes."""
        data = bytearray()
        for block in self.chunks(name):
            data += block
            if len(data) > limit:
                raise Problem(f"{name}: over {limit} bytes (more than it declared)")
        return bytes(data)

    def chunks(self, name: str) -> Iterator[bytes]:
        if not self.has(name):
            raise Problem(f"{name}: missing from the package")
        if self._zip is not None:
            try:
                with self._zip.open(name) as f:
                    while block := f.read(CHUNK):
                        yield block
            # The ZIP's own CRC check (BadZipFile), a garbled deflate stream (zlib.error,
            # EOFError), a member flagged encrypted (RuntimeError) or stored with an
            # unknown method (NotImplementedError): damage to that file, not a crash.
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                RuntimeError,
                NotImplementedError,
            ) as exc:
                raise Problem(f"{name}: damaged in the ZIP ({exc})") from None
        else:
            try:
                with (self.location / name).open("rb") as f:
                    while block := f.read(CHUNK):
                        yield block
            except OSError as exc:
                raise Problem(f"{name}: cannot be read ({exc})") from None


def _check_name(info: zipfile.ZipInfo) -> None:
    """A member's name as stored must be what this verifier reads and land inside the
    folder it is unpacked into, whatever key signed the manifest listing it."""
    name = info.orig_filename  # zipfile cuts ``filename`` at a NUL; other tools may not
    if "\x00" in name:
        raise Problem(f"{info.filename}: its name in the ZIP goes on past a NUL ({name!r})")
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or "\\" in name or ".." in parts or name[1:2] == ":":
        raise Problem(f"{name}: a name unzip tools would write outside the package folder")


def _own_bytecode(parts: tuple[str, ...]) -> bool:
    """This file's bytecode (``__pycache__/verify.<tag>.pyc``, written when it is
    imported) is not part of the package; no other file is passed over."""
    return (
        len(parts) == 2
        and parts[0] == "__pycache__"
        and parts[1].startswith("verify.")
        and parts[1].endswith(".pyc")
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def check_signature(package: Package, pinned: str | None) -> dict:
    for name, limit, why in (
        (MANIFEST, MAX_MANIFEST_BYTES, f"over this verifier's limit of {MAX_MANIFEST_BYTES}"),
        (SIGNATURE, SIGNATURE_BYTES, f"an Ed25519 signature has {SIGNATURE_BYTES}"),
        (PUBLIC_KEY, MAX_KEY_BYTES, f"a public key has a few hundred (at most {MAX_KEY_BYTES})"),
    ):
        if package.size(name) > limit:
            raise Problem(f"{name}: {package.size(name)} bytes, {why}")
    manifest_bytes = package.read(MANIFEST, MAX_MANIFEST_BYTES)
    signature = package.read(SIGNATURE, SIGNATURE_BYTES)
    try:
        key = serialization.load_pem_public_key(package.read(PUBLIC_KEY, MAX_KEY_BYTES))
    except ValueError as exc:
        raise Problem(f"{PUBLIC_KEY}: not a public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Problem(f"{PUBLIC_KEY}: not an Ed25519 public key")
    found = fingerprint(key)
    if pinned is not None and found != pinned.lower():
        raise Problem(f"{PUBLIC_KEY}: fingerprint {found} is not the expected {pinned}")
    if len(signature) != SIGNATURE_BYTES:
        raise Problem(f"{SIGNATURE}: {len(signature)} bytes, an Ed25519 signature has 64")
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise Problem(
            f"{MANIFEST}: the signature in {SIGNATURE} does not match "
            f"(one of {MANIFEST} or {SIGNATURE} was changed)"
        ) from None
    manifest = parse_manifest(manifest_bytes)
    named = manifest["signing_key"]["fingerprint"]
    if named != found:
        raise Problem(f"{PUBLIC_KEY}: fingerprint {found} is not the manifest's {named}")
    return manifest


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different. Readers differ on a key given twice
    (Python keeps the last, others the first): such a manifest says two things at once."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise Problem(f"{MANIFEST}: malformed: the key {key!r} is given twice in an object")
        seen[key] = value
    return seen


def _fields(where: str, value: object, fields: dict) -> dict:
    """``value`` as an object holding ``fields`` (name -> type), else the problem."""
    if not isinstance(value, dict):
        raise Problem(f"{MANIFEST}: malformed: {where} is not an object")
    for name, kind in fields.items():
        # bool is an int to Python, never a size or a sequence number here.
        if not isinstance(value.get(name), kind) or isinstance(value.get(name), bool):
            raise Problem(
                f"{MANIFEST}: malformed: {where}.{name} is {value.get(name)!r}, "
                f"not a {kind.__name__}"
            )
    return value


def _list(manifest: dict, name: str, fields: dict) -> None:
    items = manifest.get(name, [])
    if not isinstance(items, list):
        raise Problem(f"{MANIFEST}: malformed: {name} is not a list")
    for n, item in enumerate(items):
        _fields(f"{name}[{n}]", item, fields)


def parse_manifest(data: bytes) -> dict:
    """The manifest's JSON, checked for the shape the checks below read: signed is not
    well-formed (a forger's key signs anything), and a malformed manifest must fail
    naming itself, not crash the verifier (INV-8)."""
    try:
        manifest = json.loads(data, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise Problem(f"{MANIFEST}: not JSON ({str(exc)[:200]})") from None
    _fields("the manifest", manifest, {"signing_key": dict})
    _fields("signing_key", manifest["signing_key"], {"fingerprint": str})
    _list(manifest, "files", {"path": str, "size": int, "sha256": str})
    paths = [entry["path"] for entry in manifest.get("files", [])]
    for path in sorted({p for p in paths if paths.count(p) > 1}):
        raise Problem(f"{MANIFEST}: malformed: {path} is listed more than once")
    _list(manifest, "clips", {"file": str, "sha256": str})
    _list(manifest, "audit", {"seq": int, "prev_hash": str, "hash": str})
    return manifest


def check_files(package: Package, manifest: dict) -> int:
    listed = {entry["path"]: entry for entry in manifest.get("files", [])}
    for name, entry in listed.items():
        # The size a member declares first: a few MB can inflate to GBs, read for nothing.
        declared = package.size(name)
        if declared != entry["size"]:
            raise Problem(f"{name}: {declared} bytes, the manifest says {entry['size']}")
        digest, size = hashlib.sha256(), 0
        for block in package.chunks(name):
            digest.update(block)
            size += len(block)
            if size > entry["size"]:
                break
        if size != entry["size"]:
            raise Problem(f"{name}: {size} bytes, the manifest says {entry['size']}")
        if digest.hexdigest() != entry["sha256"]:
            raise Problem(f"{name}: SHA-256 {digest.hexdigest()} is not the manifest's")
    for name in sorted(package.names() - set(listed) - {MANIFEST, SIGNATURE}):
        raise Problem(f"{name}: in the package but not listed in the manifest")
    # Folder entries: only those of listed files' folders (``zip -r`` adds them), empty.
    parents = {"/".join(p.split("/")[:n]) + "/" for p in listed for n in range(1, p.count("/") + 1)}
    for name, held in sorted(package.folders().items()):
        if held:
            raise Problem(f"{name}: a folder entry holding {held} bytes the manifest does not list")
        if name not in parents:
            raise Problem(f"{name}: a folder in the package that holds no listed file")
    for clip in manifest.get("clips", []):
        entry = listed.get(clip["file"])
        if entry is None or entry["sha256"] != clip["sha256"]:
            raise Problem(f"{clip['file']}: the clip's SHA-256 is not its file's")
    return len(listed)


def check_audit(manifest: dict) -> int:
    entries = sorted(manifest.get("audit", []), key=lambda e: e["seq"])
    for n in range(1, len(entries)):  # (not itertools.pairwise: any Python 3 runs this)
        before, after = entries[n - 1], entries[n]
        if after["seq"] == before["seq"] + 1 and after["prev_hash"] != before["hash"]:
            raise Problem(
                f"{MANIFEST}: audit entry {after['seq']} does not link to entry {before['seq']}"
            )
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a VMS export package.")
    parser.add_argument(
        "package",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="the package: a folder or a .zip (default: the folder of this file)",
    )
    parser.add_argument("--fingerprint", help="the signing key fingerprint the agency published")
    args = parser.parse_args(argv)
    if not args.package.exists():
        # Not a package that failed its checks (exit 1: "altered"): nothing is there.
        print(f"FAILED: {args.package}: does not exist")
        return 2
    try:
        package = Package(args.package)
    except (OSError, zipfile.BadZipFile) as exc:
        print(f"FAILED: {args.package}: cannot be read ({exc})")
        return 2
    try:
        manifest = check_signature(package, args.fingerprint)
        files = check_files(package, manifest)
        links = check_audit(manifest)
    except Problem as problem:
        print(f"FAILED: {problem}")
        return 1
    print(f"OK: export {manifest.get('export_id')}: signature valid, signed by key")
    print(f"    {manifest['signing_key']['fingerprint']}")
    print(f"    {files} files match their SHA-256, {links} audit entries checked")
    print("Compare the key fingerprint with the one your agency publishes.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
