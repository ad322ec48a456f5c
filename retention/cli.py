"""``vms purge [--dry-run]`` and ``vms retention recompute|upcoming`` (entry point
``vms.commands``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from retention.plugin import get
from retention.purge import PurgeCandidate
from retention.rules import RetentionPolicy
from vms.cli import cli_actor, open_services
from vms.jsonable import jsonable
from vms.services import Services


def _open(args: argparse.Namespace) -> Services:
    # An uninitialised data dir (a typo) or a database that does not answer is refused
    # as by the core commands, not made into a new, empty installation here.
    services = open_services(args)
    services.migrate()
    return services


def cmd_purge(args: argparse.Namespace) -> int:
    """Run one purge now (the jobs role runs it every ``purge_interval_minutes``)."""
    services = _open(args)
    # RET-13: a dry run's candidates are printed as each batch is decided, never held
    # (after a shorter retention is configured they are millions).
    sink = None
    if args.dry_run:
        sink = _json_candidates() if args.json else _text_candidates
    try:
        report = get(services).purger.run(
            dry_run=args.dry_run,
            by=cli_actor(),
            confirm_clock=args.confirm_clock,
            on_candidate=sink,
        )
    finally:
        services.close()
    if args.json:
        fields = jsonable(report)
        if args.dry_run:  # the streamed list closes; the rest of the report follows
            del fields["would_purge"]
            rest = json.dumps(fields, indent=2)[1:].rstrip("}").rstrip()
            print("\n  ]" + ("," + rest if rest else "") + "\n}")
        else:
            print(json.dumps(fields, indent=2))
    elif args.dry_run:
        print(f"{report.candidates} items would be purged; {report.kept} kept")
    else:
        print(
            f"purged {report.purged} items ({report.bytes_freed} bytes), "
            f"replayed {report.replayed}, kept {report.kept}, deferred {report.deferred}"
        )
    if report.disk_alarm:
        print(
            f"DISK ALARM: {report.free_bytes} bytes free; only held or unexpired media "
            "remain (nothing held is deleted, INV-3)",
            file=sys.stderr,
        )
    return 0


def _text_candidates(item: PurgeCandidate) -> None:
    print(f"would purge {item.media_id} {item.source} ({item.rule})")


def _json_candidates() -> Callable[[PurgeCandidate], None]:
    """Prints ``{"would_purge": [`` and then each candidate as it comes (the rest of
    the report is printed after the run)."""
    print('{\n  "would_purge": [', end="")
    first = [True]

    def sink(item: PurgeCandidate) -> None:
        body = json.dumps(jsonable(item), indent=2).replace("\n", "\n    ")
        print(("\n    " if first[0] else ",\n    ") + body, end="")
        first[0] = False

    return sink


def cmd_recompute(args: argparse.Namespace) -> int:
    """Recompute every item's expiry (after changing [retention] settings or categories).

    Audited (ACC-6, INV-4) as the OS user, with the policy applied: the stored expiries
    are what the purge picks its candidates by, so after a shorter period is configured
    this command is what brings items closer to destruction."""
    services = _open(args)
    try:
        retention = get(services)
        try:
            changed = retention.expiry.recompute_all()
        except Exception as exc:
            # The rows of the chunks already committed stay changed: say so too.
            audit_recompute(services, retention.policy, outcome="failed", error=str(exc))
            raise
        audit_recompute(services, retention.policy, changed=changed)
    finally:
        services.close()
    print(f"{changed} expiries changed")
    return 0


def audit_recompute(
    services: Services, policy: RetentionPolicy, *, outcome: str = "ok", **details: Any
) -> None:
    """The audit entry of ``vms retention recompute`` (its chunks commit one by one, so
    the entry follows them in a transaction of its own)."""
    services.audit.record(
        services.db,
        cli_actor(),
        "retention.recompute",
        "retention:expiries",
        outcome=outcome,
        details={
            **details,
            "policy": {
                "source_days": dict(policy.source_days),
                "evidence_days": policy.evidence_days,
                "categories": {
                    c.name: {"days": c.retention_days, "evidence": c.evidence}
                    for _key, c in sorted(policy.categories.items())
                },
            },
        },
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("purge", help="delete expired, unheld media now (INV-3, RET-13)")
    p.add_argument("--dry-run", action="store_true", help="list what would be purged")
    p.add_argument(
        "--confirm-clock",
        action="store_true",
        help="run although the clock reads far past the previous purge or the database "
        "server's clock: the operator has checked it is right (audited; RET-1, INV-3)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_purge)
    retention = subparsers.add_parser("retention", help="retention maintenance").add_subparsers(
        dest="retention_cmd", required=True
    )
    p = retention.add_parser("recompute", help="recompute every item's expiry (RET-12)")
    p.set_defaults(func=cmd_recompute)
