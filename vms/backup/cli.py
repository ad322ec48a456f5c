"""``vms backup create|verify|restore`` (docs/design/backup.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vms.audit.cli import cli_name
from vms.audit.log import SYSTEM_ROLE, Who
from vms.config import Config
from vms.services import Services

OpenServices = Callable[[argparse.Namespace], Services]


def _who() -> Who:
    return Who(cli_name(), SYSTEM_ROLE)


def register(sub: Any, open_services: OpenServices) -> None:
    """Add ``vms backup`` to the top-level sub-parsers."""
    backup = sub.add_parser(
        "backup", help="consistent, verifiable backup sets of this installation"
    ).add_subparsers(dest="backup_cmd", required=True)

    def create(args: argparse.Namespace) -> int:
        from vms.backup.create import make_backup

        services = open_services(args)
        try:
            report = make_backup(services, Path(args.folder), _who())
        finally:
            services.close()
        m = report.manifest
        print(
            f"backup set {report.folder}: catalog as of {m.created_at} (audit entry "
            f"{m.audit_seq}, {m.items} items), {m.objects} originals ({m.object_bytes} bytes): "
            f"{report.copied} copied ({report.copied_bytes} bytes), {report.kept} already "
            f"there, {report.pruned} purged since removed"
        )
        print(f"manifest sha256 {report.manifest_sha256} (audited as system.backup)")
        for line in report.skipped:
            print(f"skipped: {line}", file=sys.stderr)
        for media_id in m.missing:
            print(f"INCOMPLETE: media {media_id}: its original is missing", file=sys.stderr)
        for media_id in m.corrupted:
            print(f"INCOMPLETE: media {media_id}: its original is corrupted", file=sys.stderr)
        return 0 if report.complete else 1

    p = backup.add_parser("create", help="write or bring up to date a backup set in FOLDER")
    p.add_argument("folder", help="an empty folder, or one holding an earlier set of this install")
    p.set_defaults(func=create)

    def verify(args: argparse.Namespace) -> int:
        from vms.backup.restore import verify_set

        report = verify_set(Path(args.folder), check_hash=args.check_hash)
        m = report.manifest
        print(f"backup set of {m.created_at}: {m.items} items, {m.objects} originals")
        for note in report.notes:
            print(note)
        for problem in report.problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        if report.ok:
            print("backup set intact" + (" (originals hashed)" if args.check_hash else ""))
        return 0 if report.ok else 1

    p = backup.add_parser("verify", help="check a set: hashes, originals, the audit chain")
    p.add_argument("folder")
    p.add_argument("--check-hash", action="store_true", help="hash every original too")
    p.set_defaults(func=verify)

    def restore(args: argparse.Namespace) -> int:
        from vms.backup.restore import restore as run_restore

        config: Config = args.config_obj
        report = run_restore(config, Path(args.folder), _who(), check_hash=args.check_hash)
        m = report.manifest
        print(
            f"restored the catalog of {m.created_at} ({m.items} items, audit entry "
            f"{m.audit_seq}) and {report.originals} originals ({report.bytes} bytes) into "
            f"{config.data_dir}"
        )
        print(
            f"{report.credentials_revoked} sessions and API tokens ended: people sign in "
            "again, integrations need new tokens"
        )
        print(
            f"what changed after {m.created_at} is not in the set: review the users, holds "
            "and preservation requests changed since then",
            file=sys.stderr,
        )
        if report.audit_break is not None:
            print(f"audit chain BROKEN at {report.audit_break}", file=sys.stderr)
            return 1
        print("audit chain intact; restore audited as system.restore")
        return 0

    p = backup.add_parser(
        "restore", help="restore a set into this installation, which must have nothing yet"
    )
    p.add_argument("folder")
    p.add_argument("--check-hash", action="store_true", help="hash every original first")
    p.set_defaults(func=restore)
