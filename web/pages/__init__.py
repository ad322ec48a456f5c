"""Server-rendered pages, one blueprint per area (docs/design/web-layer.md):

| module | blueprint | pages |
|---|---|---|
| :mod:`web.pages.auth` | ``auth_pages`` | ``/`` (start), ``/login``, ``/logout`` |
| :mod:`web.pages.catalog` | ``catalog_pages`` | ``/catalog``, ``/media/<id>``, ``/upload`` |
| :mod:`web.pages.audit` | ``audit_pages`` | ``/audit``, ``/audit/ptz``, ``/audit/monthly`` |
| :mod:`web.pages.live` | ``live_pages`` | ``/live``, ``/live/<camera_id>`` |
| :mod:`web.pages.alarms` | ``alarm_pages`` | ``/alarms`` (issue 12.3) |
| :mod:`web.pages.retention` | ``retention_pages`` | ``/retention/preservation`` |
| :mod:`web.pages.playback` | ``playback_pages`` | ``/playback`` |
| :mod:`web.pages.cases` | ``case_pages`` | ``/cases``, ``/cases/<number>`` |
| :mod:`web.pages.review` | ``review_pages`` | ``/review`` |
| :mod:`web.pages.policy` | ``policy_pages`` | ``/policy`` (conformance report) |
| :mod:`web.pages.admin` | ``admin_pages`` | ``/admin/keys`` |
| :mod:`web.pages.releases` | ``release_pages`` | ``/releases[/<id>]``, ``/records``, ``/s/<t>`` |
| :mod:`web.pages.redactions` | ``redaction_pages`` | ``/redactions/<id>`` |

What they share (the error page, ``can`` for navigation) is in
:mod:`web.pages.blueprint`, the template filters in :mod:`web.pages.filters`, SVG bar
charts in :mod:`web.pages.charts`; templates
and static files are the app's (``web/templates``, ``web/static``).
"""

from __future__ import annotations

from flask import Flask

from web.pages import (
    admin,
    alarms,
    audit,
    auth,
    cases,
    catalog,
    filters,
    live,
    playback,
    policy,
    redactions,
    releases,
    retention,
    review,
)
from web.pages.blueprint import navigation


def register(app: Flask) -> None:
    """Register every page blueprint, the template filters and ``can``."""
    filters.install(app)
    app.context_processor(navigation)
    for bp in (auth.bp, catalog.bp, audit.bp, live.bp, alarms.bp, playback.bp, policy.bp, admin.bp):
        app.register_blueprint(bp)
    retention.register(app)  # its pages and its API
    cases.register(app)  # case folders and bookmarks, pages and API (issue 15.3)
    review.register(app)  # the review page and API (issue 15.2)
    app.register_blueprint(redactions.bp)  # the redaction review page (issue 16.4)
    releases.register(app)  # releases, share links, legal holds, dashboard (issue 16)
