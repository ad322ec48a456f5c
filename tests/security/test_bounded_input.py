"""Absurd dates and numbers in queries, bodies and cursors get a 400 naming the field and
the value, never a 500 (#10.10): every route that parses a time, a whole number or a
month from a client, table-driven, through the Flask test client on both databases."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from vms.db.models import PreservationRequest, Upload
from vms.services import Services

# Not representable in UTC at all (OverflowError before the fix), then merely absurd.
BAD_TIMES = (
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2201-01-01T00:00:00Z",
)
GOOD_TIMES = ("1970-01-01T00:00:00Z", "2200-12-31T23:59:59Z")
BAD_INTS = (
    "99999999999999999999999",  # does not fit a 64-bit column (OverflowError on bind)
    "9223372036854775808",  # 2**63
    "-1",
    "1_000",  # int() takes it
    "\uff11\uff12",  # fullwidth digits: int() takes them too
    "9" * 5000,  # int() refuses it, but the whole value was echoed back
)
BAD_MONTHS = ("9999-12", "0000-01", "1969-12", "2201-01", "2026-13", "2026-00", "2026-1", "x")

# (path, role, time fields)
TIME_QUERIES = (
    ("/api/v1/media", "investigator", ("start", "end")),
    ("/catalog", "investigator", ("start", "end")),
    ("/api/v1/audit", "auditor", ("start", "end")),
    ("/audit", "auditor", ("start", "end")),
    ("/api/v1/audit/ptz", "auditor", ("start", "end")),
    ("/api/v1/audit/ptz/report", "auditor", ("start", "end")),
    ("/api/v1/cameras/CAM-1/timeline", "investigator", ("start", "end")),
    ("/api/v1/cameras/CAM-1/recording", "investigator", ("at",)),
)
# (path, role, whole-number fields)
INT_QUERIES = (
    ("/api/v1/audit", "auditor", ("before_seq", "limit")),
    ("/audit", "auditor", ("before_seq",)),
    ("/api/v1/media", "investigator", ("limit",)),
    ("/catalog", "investigator", ("limit",)),
    ("/api/v1/retention/destruction-log", "commander", ("before_id", "limit")),
    ("/api/v1/retention/upcoming", "commander", ("days", "limit")),
    ("/api/v1/reports/untagged", "sergeant", ("limit",)),
    ("/api/v1/preservation-requests", "commander", ("limit",)),
)


def auth(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def message(r: Any) -> str:
    """The error text: the API's JSON message, or the page (unescaped)."""
    if r.is_json:
        return str(r.json["error"]["message"])
    return html.unescape(r.get_data(as_text=True))


def assert_refused(r: Any, field: str, value: str, case: str) -> None:
    assert r.status_code == 400, f"{case}: {r.status_code} {r.get_data(as_text=True)[:300]}"
    text = message(r)
    # (pages start the message with a capital: "Limit: ...")
    assert field.lower() in text.lower(), f"{case}: the field is not named in {text[:300]!r}"
    assert value[:40] in text, f"{case}: the value is not named in {text[:300]!r}"
    if r.is_json:
        assert r.json["error"]["kind"] == "invalid_argument"


@pytest.mark.parametrize(("path", "role", "fields"), TIME_QUERIES, ids=lambda v: str(v))
def test_out_of_range_time_in_a_query_is_400(
    client: Any, tokens: dict[str, str], path: str, role: str, fields: tuple[str, ...]
) -> None:
    for field in fields:
        for value in BAD_TIMES:
            r = client.get(path, query_string={field: value}, headers=auth(tokens, role))
            assert_refused(r, field, value, f"{path}?{field}={value}")


@pytest.mark.parametrize(
    ("path", "role"),
    [(p, r) for p, r, fields in TIME_QUERIES if "start" in fields],
    ids=lambda v: str(v),
)
def test_times_at_the_bounds_are_accepted(
    client: Any, tokens: dict[str, str], path: str, role: str
) -> None:
    start, end = GOOD_TIMES
    r = client.get(path, query_string={"start": start, "end": end}, headers=auth(tokens, role))
    if path.endswith("/timeline"):  # parsed; refused by the service for its span
        assert r.status_code == 400 and "31 days" in message(r)
    else:
        assert r.status_code == 200, r.get_data(as_text=True)[:300]


@pytest.mark.parametrize(("path", "role", "fields"), INT_QUERIES, ids=lambda v: str(v))
def test_out_of_range_whole_number_in_a_query_is_400(
    client: Any, tokens: dict[str, str], path: str, role: str, fields: tuple[str, ...]
) -> None:
    for field in fields:
        for value in BAD_INTS:
            r = client.get(path, query_string={field: value}, headers=auth(tokens, role))
            assert_refused(r, field, value, f"{path}?{field}={value[:30]}")
            assert len(r.get_data()) < 20_000  # a 5,000-digit value is not echoed whole


def test_audit_before_seq_at_the_bound_is_accepted(client: Any, tokens: dict[str, str]) -> None:
    r = client.get(
        "/api/v1/audit",
        query_string={"before_seq": str(2**63 - 1)},
        headers=auth(tokens, "auditor"),
    )
    assert r.status_code == 200 and r.json["items"]


@pytest.mark.parametrize(
    "path",
    # TAG-7; the monthly audit and the reviews (OPS-6, OPS-7, issue 14.3)
    ["/api/v1/reports/monthly", "/api/v1/reports/monthly-audit", "/api/v1/reviews"],
)
def test_monthly_report_refuses_absurd_months_TAG_7(
    client: Any, tokens: dict[str, str], path: str
) -> None:
    for value in BAD_MONTHS:
        r = client.get(path, query_string={"month": value}, headers=auth(tokens, "auditor"))
        assert_refused(r, "month", value, f"{path}?month={value}")
    for value in ("1970-01", "2200-12"):
        r = client.get(path, query_string={"month": value}, headers=auth(tokens, "auditor"))
        assert r.status_code == 200
        assert path.endswith("/reviews") or r.json["month"] == value


def forged_cursor(at: str) -> str:
    raw = json.dumps([at, "01J0000000000000000000000"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/api/v1/media", "/catalog"])
def test_forged_cursor_with_a_naive_or_absurd_time_is_400_INV_7(
    client: Any, tokens: dict[str, str], path: str
) -> None:
    for at in ("2026-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "not a time", "2026-01-01"):
        cursor = forged_cursor(at)
        r = client.get(path, query_string={"cursor": cursor}, headers=auth(tokens, "investigator"))
        assert_refused(r, "cursor", cursor, f"{path} cursor at {at}")


def test_upload_recorded_at_out_of_range_is_400_and_creates_nothing(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    data = b"x" * 1000
    body = {
        "filename": "shift.mp4",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "bwc",
        "device_id": "BWC-0042",
    }
    for value in BAD_TIMES:
        r = client.post(
            "/api/v1/uploads", json={**body, "recorded_at": value}, headers=auth(tokens, "officer")
        )
        assert_refused(r, "recorded_at", value, f"recorded_at={value}")
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(Upload)).scalar_one() == 0


def preservation_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_number": "PR-BOUND-1",
        "requester": {"name": "Public Defender"},
        "received_at": "2026-01-01T00:00:00Z",
        "received_via": "written",
        "reason": "pending case",
        "scope": [],
        "media_ids": [],
    }
    body.update(over)
    return body


def test_preservation_times_out_of_range_are_400_and_log_nothing_RET_2(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    headers = auth(tokens, "commander")
    window = {"device_id": "CAM-1", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    for value in BAD_TIMES:
        cases = (
            ("received_at", preservation_body(received_at=value)),
            ("scope[0].start", preservation_body(scope=[{**window, "start": value}])),
            ("scope[0].end", preservation_body(scope=[{**window, "end": value}])),
        )
        for field, body in cases:
            r = client.post("/api/v1/preservation-requests", json=body, headers=headers)
            assert_refused(r, field, value, f"{field}={value}")
        form = {
            "request_number": "PR-BOUND-2",
            "requester_name": "Claims rep",
            "received_at": value,
            "received_via": "oral",
            "reason": "anticipated litigation",
        }
        r = client.post("/retention/preservation", data=form, headers=headers)
        assert_refused(r, "received_at", value, f"form received_at={value}")
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(PreservationRequest)).scalar_one() == 0


@pytest.mark.parametrize(
    "bad", [10**400, float("nan"), float("inf")], ids=["10**400", "NaN", "inf"]
)
def test_absurd_numbers_in_a_mask_polygon_are_400_PSCS_1(
    client: Any, tokens: dict[str, str], bad: float
) -> None:
    """``float(10**400)`` raised OverflowError (a 500); JSON NaN and Infinity parse."""
    body = {"name": "x", "polygon": [[10.0, -5.0], [bad, -5.0], [20.0, 5.0], [10.0, 5.0]]}
    r = client.post("/api/v1/cameras/cam-api/masks", json=body, headers=auth(tokens, "admin"))
    assert_refused(r, "polygon[1][0]", repr(bad), f"polygon with {repr(bad)[:20]}")
    assert "finite number" in message(r)


@pytest.mark.parametrize(
    "bad", [10**400, float("nan"), float("-inf")], ids=["10**400", "NaN", "inf"]
)
def test_absurd_numbers_in_a_camera_calibration_are_400(
    client: Any, tokens: dict[str, str], bad: float
) -> None:
    """Refused while parsing the body, before any camera is contacted."""
    body = {
        "name": "cal",
        "onvif_url": "http://127.0.0.1:9/onvif/device_service",
        "username": "u",
        "password": "p",
        "calibration": {"hfov_wide": bad},
    }
    r = client.post("/api/v1/cameras", json=body, headers=auth(tokens, "admin"))
    assert_refused(r, "calibration.hfov_wide", repr(bad), f"hfov_wide {repr(bad)[:20]}")
    assert "finite number" in message(r)


# (path, role, other query fields): reads over a time window [start, end): the audit log
# and the PTZ audit (ACC-6, PSCS-5), the media search.
WINDOWS = (
    ("/api/v1/audit", "auditor", {}),
    ("/audit", "auditor", {}),
    ("/api/v1/audit/ptz", "auditor", {}),
    ("/api/v1/audit/ptz", "auditor", {"format": "csv"}),
    ("/api/v1/audit/ptz/report", "auditor", {}),
    ("/api/v1/media", "investigator", {}),
)


@pytest.mark.parametrize(("path", "role", "extra"), WINDOWS, ids=lambda v: str(v))
def test_an_inverted_window_is_400_naming_both_ends_not_an_empty_answer_PSCS_5(
    client: Any, tokens: dict[str, str], path: str, role: str, extra: dict[str, str]
) -> None:
    """An auditor asking "who steered camera 3 between 02:00 and 01:00" with the times the
    wrong way round was told nothing happened (200, no entries): the misuse question
    answered wrongly, in silence. Now a 400 naming end, its value and start's (the media
    search refused it already, without saying which values)."""
    start, end = "2026-11-20T02:00:00Z", "2026-11-20T01:00:00Z"
    for window in ((start, end), (start, start)):
        r = client.get(
            path,
            query_string={"start": window[0], "end": window[1], **extra},
            headers=auth(tokens, role),
        )
        assert_refused(r, "end", window[1], f"{path} {window}")
        assert window[0] in message(r), f"{path}: start is not named in {message(r)[:300]!r}"


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        # A PTZ command's malformed body is refused by the PTZ guard (audited, INV-6).
        ("/api/v1/cameras/CAM-1/ptz", '{"session_id": "s", "op": "\\ud800"}', "session_id"),
        ("/api/v1/cameras/CAM-1/ptz/session", '{"purpose": "event\\udfff"}', "\\udfff"),
    ],
    ids=["ptz-command", "ptz-session"],
)
def test_a_lone_surrogate_in_a_json_body_is_400_not_500_INV_4(
    client: Any, tokens: dict[str, str], path: str, body: str, said: str
) -> None:
    """JSON may escape half a UTF-16 pair, which no UTF-8 text holds: a PTZ refusal
    audited with it raised UnicodeEncodeError in the audit chain (a 500, the refusal
    unaudited). Refused with 400 when the body is parsed, before it reaches the audit."""
    headers = {**auth(tokens, "dispatcher"), "Content-Type": "application/json"}
    r = client.post(path, data=body, headers=headers)
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert r.json["error"]["kind"] == "invalid_argument"
    assert said in message(r)
