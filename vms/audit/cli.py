"""``vms audit verify | checkpoint | export | verify-export`` (INV-4; issue 14, item 1)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vms.audit import verify_export
from vms.bounded import parse_time
from vms.services import Services

OpenServices = Callable[[argparse.Namespace], Services]


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
        services = open_services(args)
        try:
            doc = services.checkpoints.export(start, end)
        finally:
            services.close()
        out = Path(args.out)
        tmp = out.with_name(f".{out.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
        # The recipient's verifier: one file, Python 3 and `cryptography` only.
        script = out.with_name("verify_audit_export.py")
        shutil.copyfile(verify_export.__file__, script)
        statement = doc["statement"]
        print(
            f"wrote entries {statement['first_seq']}..{statement['last_seq']} to {out} "
            f"(key {statement['key_fingerprint']}); verifier: {script}"
        )
        return 0

    def verify_file(args: argparse.Namespace) -> int:
        return verify_export.main([args.file])

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
    p.set_defaults(func=verify_file)
