"""An export's package (the signed court ZIP) is read by its creator while they may export,
or an admin, and only while they may export the package item itself (docs/design/
exports.md, "Reading"; ACC-1, ACC-10). The catalog's own content route
(``/media/{id}/content``) serves any item's bytes: it must not be a way around that rule
for a package item, whose ZIP may carry audit entries its readers may not otherwise see.
"""

from __future__ import annotations

import datetime as dt
import io

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, MediaItem, SourceKind, User
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def officer_recording(services: Services, seed: int) -> str:
    """A body-camera recording of officer B1 (supervised by the sergeant)."""
    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=seed, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id


def package_of(services: Services, actor: Actor, media_id: str) -> str:
    """The package item of ``actor``'s export of ``media_id`` (with the audit trail),
    run to the end."""
    record = services.exports.create(
        actor,
        NewExport(
            purpose="court copy", sources=(ExportSource(None, media_id),), include_audit=True
        ),
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actor, record.id)
    assert done.state == "done" and done.package is not None, done.error
    return done.package.media_id


def denials(services: Services, target: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.target == target, AuditEntry.outcome == "denied"
                )
            ).scalars()
        )


def test_another_investigators_package_is_not_served_by_the_catalog_ACC_1(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """Investigator A exports a recording; investigator B may view the recording itself,
    but not A's package: through ``/exports/{id}/package`` B gets a 403, and the catalog's
    content route must answer the same (refusal audited, INV-4). A and an admin still
    download it there."""
    services.users.add_user(
        "investigator_b", "investigator", "correct horse battery", by=Who("t", "admin")
    )
    with services.db.session() as s:
        user = s.execute(select(User).where(User.username == "investigator_b")).scalar_one()
        other = services.users.actor_for(s, user)
    other_token = services.users.issue_token(other).token
    package = package_of(services, actors["investigator"], officer_recording(services, 21))
    url = f"/api/v1/media/{package}/content?purpose=investigation"
    for query in ("", "&download=1"):
        got = client.get(url + query, headers=bearer(other_token))
        assert got.status_code == 403, (query, got.status_code)
        assert "investigator_b" not in got.get_data(as_text=True)
    refused = denials(services, f"media:{package}")
    assert [e.actor for e in refused] == ["investigator_b", "investigator_b"]
    for name in ("investigator", "admin"):
        got = client.get(url + "&download=1", headers=bearer(tokens[name]))
        assert got.status_code == 200, (name, got.status_code)
        assert got.data[:4] == b"PK\x03\x04"
        got.close()


def test_an_officer_and_their_supervisor_get_no_package_of_the_officers_footage_ACC_1(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """Every source of the package is officer B1's, so the package item carries B1's
    badge; B1 and the sergeant view the recording, but they may not export, so the
    package (with its audit trail) is not theirs to read: 403, audited."""
    bwc = officer_recording(services, 22)
    package = package_of(services, actors["investigator"], bwc)
    with services.db.session() as s:
        item = s.get(MediaItem, package)
        assert item is not None and item.officer_badge == "B1"
    for name in ("officer", "sergeant"):
        own = client.get(f"/api/v1/media/{bwc}/content", headers=bearer(tokens[name]))
        assert own.status_code == 200, (name, own.status_code)
        own.close()
        for query in ("", "?download=1"):
            got = client.get(
                f"/api/v1/media/{package}/content{query}", headers=bearer(tokens[name])
            )
            assert got.status_code == 403, (name, query, got.status_code)
    refused = denials(services, f"media:{package}")
    assert sorted(e.actor for e in refused) == ["officer", "officer", "sergeant", "sergeant"]
    assert all("export" in e.details["reason"] for e in refused)
