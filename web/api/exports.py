"""Exports API (``/api/v1/exports``, issue 15, items 4 and 6; docs/design/exports.md).

``POST /exports`` checks the request and queues it (202 ``{id, state}``); the jobs role
runs it, publishing ``export.progress`` (forwarded over Socket.IO to the creator);
``GET /exports/{id}`` reads its state, progress and package; ``GET
/exports/{id}/package`` downloads the signed ZIP (audited). The export key: the public
key and fingerprint recipients compare packages against; any signed-in user reads it.
"""

from __future__ import annotations

from flask import Response, send_file

from vms.auth.permissions import Action
from vms.exports.service import ExportListing, ExportRecord
from vms.exports.signing import PublicKey, load_or_create_signer
from vms.filenames import content_disposition
from web.api.media import serves_content, stream_stored
from web.contract import ApiBlueprint, binary
from web.schemas.exports import (
    ExportCreatedOut,
    ExportListOut,
    ExportListQuery,
    ExportOut,
    NewExportIn,
    PublicKeyOut,
)
from web.security import remote_addr, require_actor, services

bp = ApiBlueprint("exports_api", __name__, tag="exports")


@bp.operation("GET", "/exports/public-key", response=PublicKeyOut)
def public_key() -> PublicKey:
    """The export signing key (Ed25519) and its fingerprint (SHA-256 of the raw key).

    Every package's ``manifest.sig`` verifies with this key; recipients compare the
    fingerprint ``verify.py`` prints with this one."""
    require_actor()
    return load_or_create_signer(services().config.secrets_dir).public()


def _may_create() -> None:
    services().authoriser.require(require_actor(), Action.EXPORTS_CREATE, "exports")


@bp.operation(
    "POST",
    "/exports",
    body=NewExportIn,
    response=ExportCreatedOut,
    status=202,
    before=_may_create,
)
def create_export(body: NewExportIn) -> ExportRecord:
    """Queue an export of camera ranges and media items (jobs role; progress over
    Socket.IO as ``export.progress`` and in ``GET /exports/{id}``).

    Checked before anything is queued: 400 for an empty or inverted range, one longer
    than ``[exports] max_hours``; 404 for an unknown camera or item or a range without
    recording; 403 (audited) for an item the user may not export (restricted items:
    admins only, ACC-7)."""
    return services().exports.create(require_actor(), body.command())


@bp.operation("GET", "/exports", query=ExportListQuery, response=ExportListOut)
def list_exports(query: ExportListQuery) -> ExportListing:
    """Exports, newest first: the user's own; admins and auditors see all."""
    return services().exports.list_exports(require_actor(), query.command())


@bp.operation("GET", "/exports/<export_id>", response=ExportOut)
def get_export(export_id: str) -> ExportRecord:
    """One export: state (queued, running, done, failed), progress 0..1, the error of a
    failed one, and the package (media id, SHA-256, size) of a done one."""
    return services().exports.get(require_actor(), export_id)


@bp.operation(
    "GET",
    "/exports/<export_id>/package",
    responses={200: binary("application/zip", "The signed export package (ZIP)")},
)
def download_package(export_id: str) -> Response:
    """The package of a done export, for its creator or an admin; audited
    ``media.export.download`` with a custody event on the package (ACC-6), once the
    response carries it (200, 206): a refused range or a failure records nothing."""
    actor = require_actor()
    exports = services().exports
    download = exports.authorise_package(actor, export_id)
    if download.path is None:  # in the object store
        response = stream_stored(download.sha256, download.size, "application/zip")
    else:
        response = send_file(
            download.path,
            mimetype="application/zip",
            conditional=True,
            etag=download.sha256,
            max_age=0,
        )
    response.headers["Content-Disposition"] = content_disposition(
        download.filename,
        attachment=True,
        default=f"export-{export_id}.zip",
        content_type="application/zip",
    )
    response.headers["Cache-Control"] = "private, no-store"
    if serves_content(response):  # not a HEAD, a refused range or a failure
        try:
            # Decided again as it is recorded (ACC-7: restricted since the check): a
            # refusal is the answer, the file built above is closed unsent.
            exports.record_download(actor, download, remote=remote_addr())
        except Exception:
            response.close()
            raise
    return response
