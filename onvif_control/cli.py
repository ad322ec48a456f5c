"""``vms camera add|list|accept-certificate`` (entry point ``vms.commands``) and ``vms audit ptz``
(entry point ``vms.audit_commands``, a subcommand of ``vms audit``).

The CLI acts as the operating-system user running it, audited as such (``cli:<user>``),
like the core commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from onvif_control.camera_certificates import PORTS
from onvif_control.camera_records import CameraRecord
from onvif_control.plugin import get
from onvif_control.ptz_audit import PtzAuditQuery, to_csv
from vms.bounded import parse_time
from vms.cli import add_password_options, cli_actor, open_services, read_password
from vms.errors import InvalidArgument, NotFound
from vms.jsonable import jsonable
from vms.services import Services
from vms.urls import redact_credentials


def _open(args: argparse.Namespace) -> Services:
    # An uninitialised data dir (a typo) or a database that does not answer is refused
    # as by the core commands, not made into a new, empty installation here.
    services = open_services(args)
    services.migrate()
    return services


def _close(services: Services) -> None:
    get(services).close()
    services.close()


def refuse_credentials_in_url(url: str, option: str = "--onvif") -> None:
    """A camera URL with user info (``http://user:password@host/...``) is refused before
    anything is asked or done: on the command line its password is as readable by every
    local user (``ps``, the shell's history) as ``--password`` would be (ACC-1; #10.11;
    :func:`vms.cli.read_password`). The message names the URL without its password."""
    try:
        held = "@" in urlsplit(url).netloc
    except ValueError:  # malformed (``http://u:p@[::1``): user info as the redaction sees it
        held = redact_credentials(url) != url
    if held:
        raise InvalidArgument(
            f"{option} {redact_credentials(url)!r} puts the camera's credentials on the "
            "command line, where every local user can read them (ps) while the command "
            "runs: give the URL without them, the user with --username, and leave the "
            "password out to be asked for it, or pipe it in with --password-stdin"
        )


def cmd_camera_add(args: argparse.Namespace) -> int:
    refuse_credentials_in_url(args.onvif)
    password = read_password(args, f"camera password for {args.username}: ")
    services = _open(args)
    try:
        camera = get(services).cameras.onboard(
            cli_actor(),
            args.name,
            args.onvif,
            args.username,
            password,
            tls_fingerprint=args.tls_fingerprint,
        )
    finally:
        _close(services)
    if args.json:
        print(json.dumps(jsonable(camera), indent=2))
    else:
        print(
            f"camera {camera.name} added as {camera.id}: {camera.manufacturer} "
            f"{camera.model}, PTZ {'yes' if camera.ptz_supported else 'no'}, "
            f"stream {camera.main_stream_uri}"
        )
        if camera.tls_fingerprint is not None:
            # Shown so the admin can compare it with the camera's own page (trust on
            # first use): from now on only this certificate is spoken to.
            print(f"certificate pinned: SHA-256 {camera.tls_fingerprint}")
    return 0


def cmd_camera_list(args: argparse.Namespace) -> int:
    services = _open(args)
    try:
        cameras = get(services).cameras.list_cameras(None)
    finally:
        _close(services)
    if args.json:
        print(json.dumps(jsonable(cameras), indent=2))
        return 0
    for c in cameras:
        print(
            f"{c.id}  {c.name:<20} {c.health:<8} "
            f"{'ptz' if c.ptz_supported else '-':<4} {c.onvif_url}"
        )
    return 0


def cmd_camera_accept_certificate(args: argparse.Namespace) -> int:
    """Pin the certificate a camera presents now on ``--port`` (docs/design/security.md,
    "Camera certificates", 4): as ``POST /api/v1/cameras/{id}/certificate``, for a site
    run without a browser; audited as the OS user (ACC-6)."""
    services = _open(args)
    try:
        control = get(services)
        camera_id = _camera_id(control.cameras.list_cameras(None), args.camera)
        camera = control.certificates.accept(
            None, camera_id, args.tls_fingerprint, args.port, by=cli_actor()
        )
    finally:
        _close(services)
    if args.json:
        print(json.dumps(jsonable(camera), indent=2))
        return 0
    pin = camera.rtsp_tls_fingerprint if args.port == "rtsp" else camera.tls_fingerprint
    print(f"camera {camera.name}: {args.port} certificate pinned: SHA-256 {pin}")
    return 0


def _camera_id(cameras: list[CameraRecord], given: str) -> str:
    """The id of the camera named or numbered ``given``; NotFound naming it otherwise."""
    for c in cameras:
        if given in (c.id, c.name):
            return c.id
    raise NotFound(f"camera {given!r} does not exist (give its name or id: vms camera list)")


def _time(value: str | None, name: str) -> Any:
    if not value:
        return None
    return parse_time(value, name)


def cmd_audit_ptz(args: argparse.Namespace) -> int:
    """PTZ audit entries for auditors (INV-6, PSCS-5); reading them is audited too."""
    query = PtzAuditQuery(
        camera=args.camera,
        user=args.user,
        start=_time(args.start, "--from"),
        end=_time(args.end, "--to"),
    )
    services = _open(args)
    try:
        rows = get(services).audit.entries(None, query, by=cli_actor())
    finally:
        _close(services)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    else:
        print(json.dumps(jsonable(rows), indent=2))
    return 0


def register(subparsers: Any) -> None:
    camera = subparsers.add_parser("camera", help="ONVIF cameras").add_subparsers(
        dest="camera_cmd", required=True
    )
    p = camera.add_parser("add", help="connect to an ONVIF camera, read and store it")
    p.add_argument("name")
    p.add_argument(
        "--onvif",
        required=True,
        help="device service URL, http://host:port/... (no user:password@ in it: "
        "--username, and the password asked for or piped in)",
    )
    p.add_argument("--username", required=True)
    p.add_argument(
        "--tls-fingerprint",
        help="https only: the SHA-256 fingerprint the camera's certificate must have "
        "(AB:CD:... as on the camera's own page); left out, the certificate it presents "
        "now is pinned and printed",
    )
    add_password_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera_add)
    p = camera.add_parser(
        "accept-certificate",
        help="pin the certificate a camera presents now, after it changed (audited)",
    )
    p.add_argument("camera", help="the camera's name or id")
    p.add_argument(
        "--tls-fingerprint",
        required=True,
        help="the SHA-256 fingerprint (AB:CD:...) checked on the camera itself; the "
        "camera must present exactly it, else nothing is changed",
    )
    p.add_argument(
        "--port",
        choices=PORTS,
        default="onvif",
        help="onvif: its https ONVIF side (default); rtsp: the port of its rtsps stream",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera_accept_certificate)
    p = camera.add_parser("list", help="list cameras with their health")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera_list)


def register_audit(audit_subparsers: Any) -> None:
    """``vms audit ptz --from --to [--camera] [--user] --format csv|json``."""
    p = audit_subparsers.add_parser("ptz", help="PTZ sessions and commands (INV-6)")
    p.add_argument("--from", dest="start", help="ISO 8601 with offset, e.g. 2026-11-20T00:00Z")
    p.add_argument("--to", dest="end", help="ISO 8601 with offset (exclusive)")
    p.add_argument("--camera", help="camera id")
    p.add_argument("--user", help="username")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=cmd_audit_ptz)
