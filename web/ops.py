"""``/healthz``, ``/readyz`` and ``/metrics`` on the web app (issue 13, item 7).

Outside ``/api/v1`` (so outside the OpenAPI description and the role matrix): probes and
scrapers are not users. ``/healthz`` and ``/readyz`` need no sign-in and reveal only the
names of failed checks and the kind of error (:mod:`vms.health`); ``/metrics`` is for
local clients or the bearer of the metrics token (:func:`vms.metrics.metrics_allowed`).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from vms import metrics
from vms.health import LIVE_ANSWER, METRICS_REFUSED, ready_answer
from web.security import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers; nothing else is touched."""
    return jsonify(LIVE_ANSWER)


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: database, media store and Redis (when configured); 503 names what failed."""
    status, body = ready_answer(services())
    response = jsonify(body)
    response.status_code = status
    return response


@bp.get("/metrics")
def metrics_text() -> Response:
    """Prometheus text: local clients, or ``Authorization: Bearer`` the metrics token."""
    svc = services()
    if not metrics.metrics_allowed(
        request.remote_addr, request.headers.get("Authorization"), svc.config.secrets_dir
    ):
        response = jsonify(METRICS_REFUSED)
        response.status_code = 403
        return response
    return Response(
        metrics.render(svc.db, svc.clock, svc.config.cluster.camera_lease),
        content_type=metrics.CONTENT_TYPE,
    )
