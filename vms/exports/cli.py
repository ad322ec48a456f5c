"""``vms export create | verify | public-key``: evidence exports from the command line
(INV-8), added to ``vms`` by :func:`register`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vms.audit.cli import OpenServices, cli_name
from vms.auth.permissions import Actor
from vms.db.models import Role
from vms.errors import InvalidArgument
from vms.out_files import person_output


def register(sub: Any, open_services: OpenServices) -> None:
    """Add ``vms export`` and its commands to the ``vms`` sub-parsers."""
    export = sub.add_parser("export", help="evidence exports").add_subparsers(
        dest="export_cmd", required=True
    )
    p = export.add_parser("create", help="make an export package now, in this process")
    p.add_argument("--camera", help="a fixed camera id (with --start and --end)")
    p.add_argument("--media", help="a media item id (--start/--end optional)")
    p.add_argument("--start", help="ISO 8601 with offset, e.g. 2026-12-03T14:03:00Z")
    p.add_argument("--end", help="ISO 8601 with offset")
    p.add_argument("--purpose", required=True, help="why the export is made (recorded)")
    p.add_argument("--case", help="the case number it is for")
    p.add_argument("--cut", choices=["keyframe", "exact"], default="keyframe")
    p.add_argument("--include-audit", action="store_true", help="add the items' audit entries")
    p.add_argument("--out", required=True, help="where to write the package (.zip)")
    p.set_defaults(func=lambda args: create(args, open_services))
    p = export.add_parser("verify", help="verify a package (signature, hashes, audit links)")
    p.add_argument("package", help="the package: a .zip or its unpacked folder")
    p.add_argument(
        "--fingerprint",
        help="the export key fingerprint to expect (default: this installation's key)",
    )
    p.set_defaults(func=verify_package)
    p = export.add_parser("public-key", help="the export public key and its fingerprint")
    p.set_defaults(func=public_key)


def verify_package(args: argparse.Namespace) -> int:
    from vms.exports import verify
    from vms.exports.signing import installed_fingerprint

    # INV-8: a package carries its own public key, so one made whole with some other key
    # verifies under it; this installation knows its key and pins it unless told another
    # (a package signed before a key change: the fingerprint published for it then).
    ours = None if args.fingerprint else installed_fingerprint(args.config_obj.secrets_dir)
    pinned = args.fingerprint or ours
    status = verify.main([str(args.package), *(["--fingerprint", pinned] if pinned else [])])
    if status == 1 and ours is not None:
        print(
            f"(checked against this installation's export key {ours}; for a package "
            "signed with an earlier key, give its published fingerprint with --fingerprint)",
            file=sys.stderr,
        )
    return status


def public_key(args: argparse.Namespace) -> int:
    from vms.exports.signing import load_or_create_signer

    signer = load_or_create_signer(args.config_obj.secrets_dir)
    sys.stdout.write(signer.public_key_pem().decode())
    print(f"fingerprint (SHA-256 of the raw Ed25519 key): {signer.fingerprint}")
    return 0


def create(args: argparse.Namespace, open_services: OpenServices) -> int:
    """Make an export in this process, through the export service the jobs role uses,
    as ``cli:<os user>`` with administration's reach (audited as such)."""
    import shutil

    from vms.bounded import parse_time
    from vms.exports.service import ExportSource, NewExport

    start = parse_time(args.start, "--start") if args.start else None
    end = parse_time(args.end, "--end") if args.end else None
    source = ExportSource(camera_id=args.camera, media_id=args.media, start=start, end=end)
    out = Path(args.out)
    if out.exists():
        raise InvalidArgument(f"--out {out}: the file exists already")
    services = open_services(args)
    actor = Actor(user_id=0, username=cli_name(), role=Role.ADMIN)
    try:
        record = services.exports.create(
            actor,
            NewExport(
                purpose=args.purpose,
                sources=(source,),
                case_number=args.case,
                cut=args.cut,
                include_audit=args.include_audit,
            ),
        )
        print(f"export {record.id} queued; running it here", file=sys.stderr)
        record = services.exports.run(record.id)
        if record.state != "done":
            print(f"error: export {record.id} failed: {record.error}", file=sys.stderr)
            return 1
        package = services.exports.authorise_package(actor, record.id)
        # Private, never through a name planted in a shared folder (#10.12), whole or
        # not at all: a full destination is a one-line error, nothing left there.
        with (
            services.store.local_copy(package.sha256) as path,  # S3: fetched, checked
            path.open("rb") as src,
            person_output(out) as dst,
        ):
            shutil.copyfileobj(src, dst, 1024 * 1024)
        # Audited once the copy is in place: a failed copy records no download.
        services.exports.record_download(actor, package, remote="cli")
    finally:
        services.close()
    print(f"export {record.id}: {out} ({package.size} bytes, sha256 {package.sha256})")
    return 0
