"""The ``vms`` command line.

Subcommands of other packages (``serve`` from ``web``, ``simulate-camera`` from
``onvif_control``) register themselves through the ``vms.commands`` entry-point group, so
``vms`` imports none of them (ARCHITECTURE section 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vms.audit.cli import cli_name
from vms.audit.cli import register as register_audit_commands
from vms.audit.log import SYSTEM_ROLE, Who
from vms.auth.passwords import check_password
from vms.auth.permissions import Actor
from vms.auth.users import checked_username
from vms.backup.cli import register as register_backup_commands
from vms.catalog_values import MediaQuery, MediaRecord, RestrictionChange
from vms.check import Level, check, recover
from vms.clock import isoformat
from vms.config import Config, check_log_level, load_config
from vms.db.engine import database_unavailable, require_schema
from vms.db.models import Role, SourceKind, User
from vms.db.schema import require_head
from vms.errors import InvalidArgument, NotFound, VMSError
from vms.exports.cli import register as register_export_commands
from vms.file_modes import restrict_umask
from vms.ingest import IngestRequest, Origin
from vms.jsonable import jsonable
from vms.markers import MarkerKind
from vms.out_files import storage_full
from vms.policy.cli import register as register_policy_commands
from vms.recorded_time import parse_recorded_at
from vms.services import Services, require_not_restoring

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def cli_actor() -> Who:
    """The CLI acts as the operating-system user who runs it (audited as such, by the
    real user id: :func:`vms.audit.cli.cli_name`)."""
    return Who(cli_name(), SYSTEM_ROLE)


def add_password_options(parser: argparse.ArgumentParser, option: str = "--password") -> None:
    """``--password-stdin``, and ``option`` kept only to be refused (:func:`read_password`)."""
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else prompted for)",
    )
    parser.add_argument(option, dest="password_argv", help=argparse.SUPPRESS)


def read_password(args: argparse.Namespace, prompt: str, option: str = "--password") -> str:
    """The password of a command: from standard input (``--password-stdin``, its first
    line) or asked for on the terminal. Never from the command line: every local user
    reads a process's arguments while it runs (``ps``, ``/proc/PID/cmdline``) and the
    shell keeps them in its history, so a value there is refused before anything is done
    (ACC-1; docs/design/security.md, "Local OS user")."""
    if args.password_argv is not None:
        raise InvalidArgument(
            f"{option} puts the password on the command line, where every local user can "
            "read it (ps) while the command runs: leave it out to be asked for it, or pipe "
            "it in with --password-stdin"
        )
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidArgument("--password-stdin: standard input held no password")
        return line
    try:
        return getpass.getpass(prompt)
    except EOFError:  # no terminal, and standard input ended (< /dev/null, a script)
        raise InvalidArgument(
            "no password given: standard input ended at the prompt (no terminal?): pipe "
            "it in with --password-stdin"
        ) from None


def open_services(args: argparse.Namespace) -> Services:
    """Services for a command that does not migrate: a database that does not answer, was
    never initialised, or whose schema is not this code's (after an upgrade of the package,
    `vms init` first) is refused before anything is made."""
    config: Config = args.config_obj
    require_not_restoring(config.data_dir)  # (its database may not be there yet)
    require_schema(config.effective_database_url)
    services = Services.open(config)
    try:
        require_head(services.db.engine)
    except BaseException:
        services.close()
        raise
    return services


def cmd_init(args: argparse.Namespace) -> int:
    # Half an admin was a silent success ("initialised", exit 0, nobody to sign in).
    if args.password_stdin and not args.admin_user:
        raise InvalidArgument("--password-stdin needs --admin-user (the admin's name)")
    password = None
    if args.admin_user or args.password_argv is not None:
        password = read_password(args, f"password for {args.admin_user}: ", "--admin-password")
    if args.admin_user and password:
        # Before opening anything: opening makes the database file and the folders.
        checked_username(args.admin_user)
        check_password(password)
    services = Services.open(args.config_obj)
    try:
        services.init(args.admin_user, password, by=cli_actor())
        print(f"initialised {services.config.data_dir.resolve()}")
    finally:
        services.close()
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    password = read_password(args, f"password for {args.name}: ")
    services = open_services(args)
    try:
        user = services.users.add_user(
            args.name,
            args.role,
            password,
            badge=args.badge,
            supervisor=args.supervisor,
            by=cli_actor(),
        )
        print(f"user {user.username} ({user.role}) created")
    finally:
        services.close()
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        with services.db.session() as s:
            for user in s.query(User).order_by(User.username):
                state = "" if user.active else "\tdisabled"
                print(f"{user.username}\t{user.role}\t{user.badge or '-'}{state}")
    finally:
        services.close()
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        listing = services.devices.list_devices(cli_actor())
    finally:
        services.close()
    if args.json:
        print(json.dumps(jsonable(listing)))
        return 0
    enforced = "enforced" if listing.assignment_enforced else "not enforced"
    print(f"device assignment {enforced}")
    for device in listing.devices:
        print(f"{device.id}\t{device.kind}\t{','.join(device.officers) or '-'}")
    return 0


def cmd_device_assign(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        device = services.devices.assign(cli_actor(), args.device, args.badge, kind=args.kind)
    finally:
        services.close()
    print(f"{device.id} ({device.kind}) assigned to {', '.join(device.officers)}")
    return 0


def cmd_device_unassign(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        device = services.devices.unassign(cli_actor(), args.device, args.badge)
    finally:
        services.close()
    print(f"{device.id} assigned to {', '.join(device.officers) or 'nobody'}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    """Disable a user: sign-in refused, every session and token revoked (streams close
    within ``[web] stream_recheck_seconds``)."""
    services = open_services(args)
    try:
        revoked = services.users.set_active(args.name, False, cli_actor())
    finally:
        services.close()
    print(
        f"user {args.name} disabled ({revoked.sessions} sessions, {revoked.tokens} tokens revoked)"
    )
    return 0


def cmd_user_enable(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        services.users.set_active(args.name, True, cli_actor())
    finally:
        services.close()
    print(f"user {args.name} enabled")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """Reset a password; the user's sessions and tokens are revoked."""
    password = read_password(args, f"new password for {args.name}: ")
    services = open_services(args)
    try:
        revoked = services.users.set_password(args.name, password, cli_actor())
    finally:
        services.close()
    print(
        f"password of {args.name} changed ({revoked.sessions} sessions, "
        f"{revoked.tokens} tokens revoked)"
    )
    return 0


def cmd_user_revoke_tokens(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        revoked = services.users.revoke_credentials(args.name, cli_actor(), reason="cli")
    finally:
        services.close()
    print(f"{args.name}: {revoked.sessions} sessions, {revoked.tokens} tokens revoked")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.is_dir():
        raise InvalidArgument(f"{path} is a folder, not a file: give one media file")
    if not path.is_file():
        raise NotFound(f"file {path} does not exist")
    try:
        source = SourceKind(args.source)
    except ValueError:
        raise InvalidArgument(f"unknown source {args.source!r}") from None
    recorded = (
        parse_recorded_at(args.recorded_at, field="--recorded-at") if args.recorded_at else None
    )
    services = open_services(args)
    try:
        result = services.ingestor.ingest(
            path,
            IngestRequest(
                source=source,
                device_id=args.device,
                officer_badge=args.officer,
                recorded_at=recorded,
                title=args.title,
                categories=tuple(args.category or ()),
                case_number=args.case,
                original_filename=path.name,
                custody_details={"cli_path": str(path.resolve())},
                origin=Origin.USER,  # only the recorder creates fixed items (#10.1)
            ),
            cli_actor(),
        )
    finally:
        services.close()
    if args.json:
        print(
            json.dumps(
                {
                    "id": result.media_id,
                    "sha256": result.sha256,
                    "size": result.size,
                    "duplicate": result.duplicate,
                }
            )
        )
    elif result.duplicate:
        print(f"duplicate of {result.media_id} sha256 {result.sha256}")
    else:
        print(f"{result.media_id} sha256 {result.sha256}")
    return 0


def cmd_media_list(args: argparse.Namespace) -> int:
    try:
        source = SourceKind(args.source) if args.source else None
    except ValueError:
        known = ", ".join(s.value for s in SourceKind)
        raise InvalidArgument(f"unknown source {args.source!r} (one of: {known})") from None
    services = open_services(args)
    # The operator of the machine acts with administration's reach, as `cli:<user>`.
    actor = Actor(user_id=0, username=cli_actor().name, role=Role.ADMIN)
    try:
        page = services.catalog.search(
            actor,
            MediaQuery(
                source=source,
                device_id=args.device,
                officer_badge=args.officer,
                case_number=args.case,
                has_marker=MarkerKind(args.has_marker) if args.has_marker else None,
                limit=args.limit,
            ),
        )
        items = jsonable(page.items)
    finally:
        services.close()
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        for item in items:
            print(
                f"{item['id']}  {item['recorded_start']}  {item['source']:<8} "
                f"{item['device_id']:<16} {item['size_bytes']:>12}  {item['title'] or ''}"
            )
    return 0


def cmd_media_show(args: argparse.Namespace) -> int:
    """One item's metadata, read through the catalog as ``cli:<os user>`` with
    administration's reach: audited ``media.detail`` like the page and the API (ACC-6)."""
    services = open_services(args)
    actor = Actor(user_id=0, username=cli_actor().name, role=Role.ADMIN)
    try:
        detail = services.catalog.get(actor, args.id)
    finally:
        services.close()
    shown = {f.name for f in dataclasses.fields(MediaRecord)}
    body = {k: v for k, v in jsonable(detail).items() if k in shown}
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        for key, value in body.items():
            print(f"{key:>22}: {value}")
    return 0


def cmd_media_restrict(args: argparse.Namespace) -> int:
    """ACC-7: mark an item restricted (``restrict``) or clear the mark (``unrestrict``),
    as ``cli:<os user>`` with administration's reach; audited with the reason."""
    services = open_services(args)
    actor = Actor(user_id=0, username=cli_actor().name, role=Role.ADMIN)
    change = RestrictionChange(restricted=args.media_cmd == "restrict", reason=args.reason)
    try:
        record = services.catalog.set_restricted(actor, args.id, change)
    finally:
        services.close()
    print(f"{record.id} restricted: {'yes' if record.restricted else 'no'}")
    return 0


def cmd_media_critical(args: argparse.Namespace) -> int:
    """ACC-2: flag an item as recorded at an incident with death or serious bodily injury
    (``--clear``: clear the flag), as ``cli:<os user>`` with administration's reach;
    audited with the reason."""
    from vms.access import CriticalIncidentChange

    services = open_services(args)
    actor = Actor(user_id=0, username=cli_actor().name, role=Role.ADMIN)
    change = CriticalIncidentChange(critical=not args.clear, reason=args.reason)
    try:
        record = services.catalog.set_critical_incident(actor, args.id, change)
    finally:
        services.close()
    print(f"{record.id} critical incident: {'yes' if record.critical_incident else 'no'}")
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    """Media nodes (alive or not, last heartbeat, cameras held) and job leases."""
    from vms.leases import cluster_status, job_status

    services = open_services(args)
    try:
        cluster = services.config.cluster
        nodes = cluster_status(
            services.db, services.clock, dt.timedelta(seconds=cluster.camera_lease_seconds)
        )
        jobs = job_status(services.db)
        now = services.clock.now()
    finally:
        services.close()
    if args.json:
        print(json.dumps(jsonable({"nodes": nodes, "jobs": jobs}), indent=2))
        return 0
    print(f"media nodes ({'camera ownership on' if cluster.camera_ownership else 'off'}):")
    for n in nodes:
        age = (now - n.heartbeat_at).total_seconds()
        print(
            f"  {n.node_id:<30} {'alive' if n.alive else 'DEAD ':<5} heartbeat {age:6.1f} s ago"
            f"  {len(n.cameras)} camera(s){': ' + ', '.join(n.cameras) if n.cameras else ''}"
        )
    if not nodes:
        print("  (none has registered)")
    print("job leases:")
    for j in jobs:
        held = f"held by {j.holder} until {isoformat(j.expires_at)}" if j.expires_at else "free"
        last = isoformat(j.started_at) if j.started_at else "never"
        print(f"  {j.name:<22} {held}; last run started {last}")
    return 0


def cmd_cluster_pin(args: argparse.Namespace) -> int:
    """Pin a camera to a media node, or clear the pin (audited)."""
    from vms.leases import pin_camera

    if args.clear == bool(args.node):
        raise InvalidArgument("give a node to pin the camera to, or --clear (not both)")
    services = open_services(args)
    try:
        before = pin_camera(services.db, services.audit, args.camera, args.node, cli_actor())
    finally:
        services.close()
    print(f"camera {args.camera}: pinned to {args.node or 'no node'} (was {before or 'none'})")
    return 0


def cmd_catalog_check(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        if args.repair:
            recover(services.db, services.store, audit=services.audit, by=cli_actor())
        report = check(services.db, services.store, Level(args.level))
    finally:
        services.close()
    print(f"{report.rows} rows, {report.files} files checked at level {args.level}")
    for label, values in (
        ("missing", report.missing),
        ("orphaned", report.orphaned),
        ("corrupted", report.corrupted),
        ("temp", report.temp_files),
        ("quarantined", report.quarantined),
    ):
        for value in values:
            print(f"{label}: {value}")
    if report.clean:
        print("catalog clean")
        return 0
    return 1


def cmd_dock_scan(args: argparse.Namespace) -> int:
    services = open_services(args)
    try:
        outcomes = services.dock.scan(cli_actor())  # (the jobs role's: dock, ACC-6)
    finally:
        services.close()
    for outcome in outcomes:
        print(outcome.line())
    # A refused file, one under a name no scan takes, or a device folder the service
    # may not write, is for a person (TAG-5).
    for_a_person = ("rejected", "stranded", "unwritable")
    return 0 if all(o.status not in for_a_person for o in outcomes) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vms", description="Public-safety camera VMS")
    parser.add_argument("--config", help="vms.toml (default: $VMS_CONFIG)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING...")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create folders, migrate the database, add the admin")
    p.add_argument("--admin-user", help="the first admin's name (created once)")
    add_password_options(p, "--admin-password")
    p.set_defaults(func=cmd_init)

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_cmd", required=True
    )
    p = user.add_parser("add", help="add a user")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    add_password_options(p)
    p.add_argument("--badge")
    p.add_argument("--supervisor", help="username of the supervising user (ACC-8)")
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("list", help="list users")
    p.set_defaults(func=cmd_user_list)
    p = user.add_parser("disable", help="refuse sign-in; revoke every session and token")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_disable)
    p = user.add_parser("enable", help="allow a disabled user to sign in again")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_enable)
    p = user.add_parser("passwd", help="set a new password; revoke every session and token")
    p.add_argument("name")
    add_password_options(p)
    p.set_defaults(func=cmd_user_passwd)
    p = user.add_parser("revoke-tokens", help="revoke every session and API token of a user")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_revoke_tokens)

    device = sub.add_parser(
        "device", help="issue body-worn/dash/handheld devices to officers (issue #10.1)"
    ).add_subparsers(dest="device_cmd", required=True)
    p = device.add_parser("list", help="devices and the officers they are assigned to")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_device_list)
    p = device.add_parser("assign", help="assign a device to an officer (audited)")
    p.add_argument("device")
    p.add_argument("badge")
    p.add_argument("--kind", choices=["bwc", "dash", "handheld"], help="for a new device")
    p.set_defaults(func=cmd_device_assign)
    p = device.add_parser("unassign", help="take a device back from an officer (audited)")
    p.add_argument("device")
    p.add_argument("badge")
    p.set_defaults(func=cmd_device_unassign)

    p = sub.add_parser("ingest", help="ingest a file through the single ingest path")
    p.add_argument("file")
    p.add_argument("--source", required=True, choices=["fixed", "bwc", "dash", "handheld"])
    p.add_argument("--device", required=True)
    p.add_argument("--officer")
    p.add_argument("--recorded-at")
    p.add_argument("--title")
    p.add_argument("--category", action="append")
    p.add_argument("--case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    media = sub.add_parser("media", help="the catalog").add_subparsers(
        dest="media_cmd", required=True
    )
    p = media.add_parser("list")
    p.add_argument("--source")
    p.add_argument("--device")
    p.add_argument("--officer")
    p.add_argument("--case")
    p.add_argument(
        "--has-marker",
        choices=[k.value for k in MarkerKind],
        help="only items with a device marker of this kind (OPS-3)",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_media_list)
    p = media.add_parser("show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_media_show)
    for name, what in (
        ("restrict", "mark an item restricted: only admins view and export it (ACC-7)"),
        ("unrestrict", "clear an item's restricted mark (ACC-7)"),
    ):
        p = media.add_parser(name, help=what)
        p.add_argument("id")
        p.add_argument("--reason", required=True, help="why (kept in the audit log)")
        p.set_defaults(func=cmd_media_restrict)
    p = media.add_parser(
        "critical-incident",
        help="flag an item as of an incident with death or serious bodily injury: the "
        "officer's own review then needs a recorded written approval (ACC-2)",
    )
    p.add_argument("id")
    p.add_argument("--clear", action="store_true", help="clear the flag instead")
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.set_defaults(func=cmd_media_critical)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_cmd", required=True
    )
    register_audit_commands(audit, open_services)
    # Other packages add audit views (``vms audit ptz`` from onvif_control).
    _register_plugins("vms.audit_commands", audit)

    cluster = sub.add_parser("cluster", help="the cluster's nodes and leases").add_subparsers(
        dest="cluster_cmd", required=True
    )
    p = cluster.add_parser("status", help="media nodes, cameras they hold, job leases")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_cluster_status)
    p = cluster.add_parser(
        "pin", help="record a camera on one media node while it lives (or --clear)"
    )
    p.add_argument("camera")
    p.add_argument("node", nargs="?", help="the node id ([cluster] node_id)")
    p.add_argument("--clear", action="store_true", help="remove the pin")
    p.set_defaults(func=cmd_cluster_pin)

    catalog = sub.add_parser("catalog", help="catalog maintenance").add_subparsers(
        dest="catalog_cmd", required=True
    )
    p = catalog.add_parser("check", help="compare catalog rows with stored files")
    p.add_argument("--level", choices=[lv.value for lv in Level], default="presence")
    p.add_argument(
        "--repair", action="store_true", help="first remove dead temp files and quarantine orphans"
    )
    p.set_defaults(func=cmd_catalog_check)

    register_export_commands(sub, open_services)

    dock = sub.add_parser("dock", help="dock folder").add_subparsers(dest="dock_cmd", required=True)
    p = dock.add_parser("scan", help="ingest settled files in the dock folders once")
    p.set_defaults(func=cmd_dock_scan)

    register_policy_commands(sub)
    register_backup_commands(sub, open_services)
    _register_plugins("vms.commands", sub)
    return parser


def _register_plugins(group: str, subparsers: Any) -> None:
    for ep in entry_points(group=group):
        try:
            register: Callable[[Any], None] = ep.load()
        except ImportError as exc:
            # A package still being built must not take the whole CLI down.
            print(f"warning: command {ep.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    # Private files whatever the command (#10.12): not only those that open the services
    # (`vms export public-key` makes the data folder and the key without them).
    restrict_umask()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        level = check_log_level(args.log_level, "--log-level") if args.log_level else None
        args.config_obj = load_config(args.config)
        logging.basicConfig(
            level=level or args.config_obj.log_level.strip().upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        handler: Handler = args.func
        return handler(args)
    except VMSError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A full disk, or a database that stopped answering (or never did: `vms serve`
        # opens it itself), is one line, not a traceback; anything else is a bug.
        config: Config | None = getattr(args, "config_obj", None)
        error = storage_full(exc) or (
            database_unavailable(exc, config.effective_database_url) if config else None
        )
        if error is None:
            raise
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
