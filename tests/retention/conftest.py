"""Fixtures for the retention tests: services on a manual clock, quick test documents."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from retention.commands import NewPreservationRequest
from retention.plugin import Retention, get
from tests.media import make_pdf
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import MediaHold, MediaItem, SourceKind, User
from vms.ingest import IngestRequest
from vms.services import Services
from web.contract import parse_model
from web.schemas.retention import NewPreservationIn

WHO = Who("tester", "admin")
DAY = dt.timedelta(days=1)
_counter = itertools.count()


@pytest.fixture
def clock(request: pytest.FixtureRequest, clock: ManualClock) -> ManualClock:
    """The shared manual clock; a test that parametrizes ``clock`` indirectly with a
    datetime starts at that time instead (so a calendar-dependent test runs on the dates
    that matter, whatever today's date is)."""
    start = getattr(request, "param", None)
    if start is not None:
        clock.set(start)
    return clock


@pytest.fixture
def timed(config: Config, clock: ManualClock) -> Iterator[Services]:
    """Services whose clock only moves when the test says so (INV-7)."""
    svc = Services.open(config, clock=clock)
    svc.migrate()
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture
def retention(timed: Services) -> Retention:
    return get(timed)


@pytest.fixture
def timed_client(timed: Services):  # type: ignore[no-untyped-def]
    """The Flask test client over the manual-clock services."""
    from web.app import create_app

    flask_app, _socketio = create_app(timed, testing=True)
    return flask_app.test_client()


@pytest.fixture
def timed_tokens(timed: Services) -> dict[str, str]:
    """A bearer token for every test user, issued on the manual clock."""
    with timed.db.session() as s:
        actors = [timed.users.actor_for(s, u) for u in s.execute(select(User)).scalars()]
    return {a.username: timed.users.issue_token(a).token for a in actors}


def document(tag: str | None = None) -> bytes:
    """A small distinct PDF (probing a document is cheap; the rules do not care)."""
    tag = tag or f"doc-{next(_counter)}"
    return make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n%" + tag.encode() + b"\n", 1)


def ingest(
    services: Services,
    *,
    source: SourceKind = SourceKind.FIXED,
    device: str = "CAM-1",
    recorded_at: dt.datetime,
    officer: str | None = None,
    categories: tuple[str, ...] = (),
    data: bytes | None = None,
    case: str | None = None,
) -> str:
    result = services.ingestor.ingest(
        io.BytesIO(data if data is not None else document()),
        IngestRequest(
            source=source,
            device_id=device,
            officer_badge=officer,
            recorded_at=recorded_at,
            categories=categories,
            case_number=case,
        ),
        WHO,
    )
    return result.media_id


def open_case(services: Services, actor: Actor, number: str) -> None:
    """Open case ``number`` as its folder is opened (``POST /api/v1/cases``, RET-5): a
    state change of a case that does not exist is a 404."""
    from retention.casefile import CaseFileService, NewCase

    services.ports.get(CaseFileService).create(actor, NewCase(number))


def active_holds(services: Services, media_id: str) -> list[str]:
    """The labels of ``media_id``'s holds not released."""
    with services.db.session() as s:
        return list(
            s.execute(
                select(MediaHold.label).where(
                    MediaHold.media_id == media_id, MediaHold.released_at.is_(None)
                )
            ).scalars()
        )


def item(services: Services, media_id: str) -> MediaItem | None:
    with services.db.session() as s:
        return s.get(MediaItem, media_id)


def exists(services: Services, media_id: str) -> bool:
    """The row is there and so is its file."""
    row = item(services, media_id)
    return row is not None and services.store.exists(row.sha256)


def all_ids(services: Services) -> set[str]:
    with services.db.session() as s:
        return set(s.execute(select(MediaItem.id)).scalars())


def preservation_command(body: dict[str, Any]) -> NewPreservationRequest:
    """A preservation request written as the API's JSON body, as the command the web
    layer builds from it (so the service tests read like the API's examples)."""
    return parse_model(NewPreservationIn, body).command()
