"""``vms audit verify | checkpoint | export | verify-export`` (INV-4; issue 14, item 1)
and ``vms audit monthly`` (OPS-6, OPS-7, TAG-7; issue 14, item 3)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vms.audit import verify_export
from vms.audit.checkpoints import installed_fingerprint
from vms.audit.log import SYSTEM_ROLE, Who
from vms.bounded import parse_time
from vms.jsonable import jsonable
from vms.out_files import person_output
from vms.services import Services

OpenServices = Callable[[argparse.Namespace], Services]


def cli_name() -> str:
    """``cli:<name>`` of the operating-system user running the command, from the real
    user id: not ``getpass.getuser()``, which believes ``LOGNAME``/``USER`` from the
    environment, so anyone could be named in the audit log (ACC-6, PSCS-5)."""
    try:
        return f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    except KeyError:  # a uid without a passwd entry (a bare container)
        return f"cli:uid-{os.getuid()}"


def register(audit: Any, open_services: OpenServices) -> None:
    """Add the audit commands to the ``vms audit`` sub-parsers."""

    def verify(args: argparse.Namespace) -> int:
        services = open_services(args)
        try:
            broken = services.audit.verify(services.db)
            report = services.checkpoints.verify()
        finally:
            services.close()
        failed = False
        if broken is None:
            print("audit chain intact")
        else:
            print(f"audit chain BROKEN at entry {broken.seq}: {broken.reason}", file=sys.stderr)
            failed = True
        for problem in report.problems:
            print(f"audit checkpoint problem: {problem}", file=sys.stderr)
            failed = True
        if not report.problems:
            print(f"{report.checkpoints} signed checkpoint(s) intact")
        if report.unanchored is not None:
            first, last = report.unanchored
            print(f"entries {first}..{last} not yet checkpointed")
        return 1 if failed else 0

    def checkpoint(args: argparse.Namespace) -> int:
        services = open_services(args)
        try:
            made = services.checkpoints.sign_now()
        finally:
            services.close()
        if made is None:
            print("the newest entry is already checkpointed")
        else:
            print(f"checkpoint signed at entry {made.seq} (key {made.key_fingerprint})")
        return 0

    def export(args: argparse.Namespace) -> int:
        start = parse_time(args.start, "--from") if args.start else None
        end = parse_time(args.end, "--to") if args.end else None
        out = Path(args.out)
        services = open_services(args)
        try:
            with person_output(out) as f:  # the folder may be shared (#10.12)
                # Streamed: a whole log is millions of entries (ACC-6).
                statement = services.checkpoints.export_to(f, start, end)
            # ACC-6: audited once the file is in place (a failed write records no export).
            services.checkpoints.record_export(
                Who(cli_name(), SYSTEM_ROLE),
                statement["first_seq"],
                statement["last_seq"],
                hashlib.sha256(verify_export.statement_payload(statement)).hexdigest(),
                str(out.resolve()),
            )
        finally:
            services.close()
        # The recipient's verifier: one file, Python 3 and `cryptography` only.
        script = out.with_name("verify_audit_export.py")
        with person_output(script) as f:  # not a file someone else left to change
            f.write(Path(verify_export.__file__).read_bytes())
        print(
            f"wrote entries {statement['first_seq']}..{statement['last_seq']} to {out} "
            f"(key {statement['key_fingerprint']}); verifier: {script}"
        )
        return 0

    def verify_file(args: argparse.Namespace) -> int:
        # INV-4: pinned to this installation's audit key unless told another, so an
        # export rewritten whole and signed with some other key is not "intact" here.
        pinned = args.fingerprint or installed_fingerprint(args.config_obj.secrets_dir)
        return verify_export.main([args.file, *(["--fingerprint", pinned] if pinned else [])])

    def monthly(args: argparse.Namespace) -> int:
        from vms.audit.monthly_out import text_lines, to_csv, to_pdf
        from vms.auth.permissions import Actor
        from vms.db.models import Role

        services = open_services(args)
        # The CLI acts with administration's reach as its OS user (audited as such).
        actor = Actor(user_id=0, username=cli_name(), role=Role.ADMIN)
        try:
            report = services.monthly_audit.report(actor, args.month, output=args.format)
        finally:
            services.close()
        if args.format == "pdf":
            data = to_pdf(report)
        elif args.format == "csv":
            data = to_csv(report).encode()
        elif args.format == "json":
            data = (json.dumps(jsonable(report), indent=1, ensure_ascii=False) + "\n").encode()
        else:
            data = ("\n".join(text_lines(report)) + "\n").encode()
        if args.out:
            out = Path(args.out)
            with person_output(out) as f:  # the folder may be shared (#10.12)
                f.write(data)
            print(f"wrote the monthly audit of {report.month} to {out}")
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        short = report.officers_short_of_reviews
        if short:
            print(
                f"{len(short)} officer(s) below {report.reviews_required} reviews (OPS-6): "
                + ", ".join(c.officer_badge for c in short),
                file=sys.stderr,
            )
        return 0

    p = audit.add_parser(
        "monthly", help="the monthly audit: usage, storage, viewing, PTZ, tagging, reviews"
    )
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--format", choices=("text", "json", "csv", "pdf"), default="text")
    p.add_argument("--out", help="write to this file (default: standard output)")
    p.set_defaults(func=monthly)
    p = audit.add_parser(
        "verify", help="check the hash chain and the signed checkpoints; non-zero names the break"
    )
    p.set_defaults(func=verify)
    p = audit.add_parser("checkpoint", help="sign a checkpoint at the newest entry now")
    p.set_defaults(func=checkpoint)
    p = audit.add_parser(
        "export", help="write entries and their signed checkpoints, verifiable without secrets"
    )
    p.add_argument("--from", dest="start", help="ISO 8601 time (default: the first entry)")
    p.add_argument("--to", dest="end", help="ISO 8601 time (default: now)")
    p.add_argument("--out", required=True, help="the export file (JSON) to write")
    p.set_defaults(func=export)
    p = audit.add_parser(
        "verify-export", help="check an export file (the same check as verify_audit_export.py)"
    )
    p.add_argument("file")
    p.add_argument(
        "--fingerprint",
        help="the signing key fingerprint to require (default: this installation's audit key)",
    )
    p.set_defaults(func=verify_file)
