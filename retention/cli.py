"""``vms purge [--dry-run]`` and ``vms retention recompute|upcoming`` (entry point
``vms.commands``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from retention.plugin import get
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
    try:
        report = get(services).purger.run(
            dry_run=args.dry_run, by=cli_actor(), confirm_clock=args.confirm_clock
        )
    finally:
        services.close()
    if args.json:
        print(json.dumps(jsonable(report), indent=2))
    elif args.dry_run:
        for item in report.would_purge:
            print(f"would purge {item.media_id} {item.source} ({item.rule})")
        print(f"{len(report.would_purge)} items would be purged; {report.kept} kept")
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
