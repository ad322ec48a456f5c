"""The OpenAPI 3.1 description (issue 11, item 7): it validates, it lists every API route
of the app and nothing else, and every route declares its models."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from web.contract import API_PREFIX, openapi_path, operation_of

UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def description(client: Any) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    return dict(r.json)


def test_the_description_is_valid_openapi_3_1(description: dict[str, Any]) -> None:
    assert description["openapi"].startswith("3.1")
    validate(description)  # raises on an invalid document


def test_every_api_route_is_described_and_nothing_else(app: Any, description: Any) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        assert operation_of(app, rule.endpoint) is not None, (
            f"{rule.rule} ({rule.endpoint}) is not declared with ApiBlueprint.operation"
        )
        path, _ = openapi_path(rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - UNDOCUMENTED_METHODS}
    described = {
        (path, method)
        for path, ops in description["paths"].items()
        for method in ops
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert described == routes


def test_every_operation_says_what_it_answers_and_who_may_call(description: Any) -> None:
    for path, ops in description["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op["summary"], where
            assert "default" in op["responses"], where  # the error body
            assert any(code.isdigit() for code in op["responses"]), where
            public = path in {"/api/v1/openapi.json", "/api/v1/auth/token"}
            assert ("security" in op) is not public, where


def test_a_wrong_body_is_a_400_naming_the_field_and_the_value(
    client: Any, tokens: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    r = client.put("/api/v1/devices/BWC-1/officers/B1", json={"kind": "tank"}, headers=headers)
    assert r.status_code == 400
    assert r.json["error"]["message"] == ("kind: 'tank' must be one of 'bwc', 'dash' or 'handheld'")
    r = client.put(
        "/api/v1/devices/BWC-1/officers/B1",
        data="kind=bwc",
        headers=headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 400 and "must be JSON" in r.json["error"]["message"]


def test_docs_api_md_tells_the_story_of_every_route(description: Any) -> None:
    """docs/api.md keeps the narrative (who may call, what is audited) and links to the
    description; each route appears there as ``METHOD /path`` (paths relative to
    /api/v1, path parameters as ``{name}``)."""
    import re
    from pathlib import Path

    def shape(text: str) -> str:  # path parameters compared by position, not by name
        return re.sub(r"\{[^}/]*\}", "{}", text)

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    assert "/api/v1/openapi.json" in text
    missing = [
        f"{method.upper()} {path.removeprefix(API_PREFIX)}"
        for path, ops in description["paths"].items()
        for method in ops
        if shape(f"`{method.upper()} {path.removeprefix(API_PREFIX)}") not in shape(text)
    ]
    assert not missing, f"routes docs/api.md does not mention: {missing}"


def test_an_anonymous_caller_is_told_to_sign_in_before_anything_about_the_body(
    client: Any,
) -> None:
    r = client.put("/api/v1/devices/BWC-1/officers/B1", json={"kind": "tank", "x": 1})
    assert r.status_code == 401 and r.json["error"]["kind"] == "unauthenticated"
    r = client.post("/api/v1/auth/token", json={"username": 7})  # public: parsed at once
    assert r.status_code == 400


def test_an_upload_s_status_describes_the_destruction_of_its_item_RET_13(
    description: Any,
) -> None:
    """RET-13, TAG-5: GET /uploads/{upload_id} answers ``destruction`` (null, or the
    record of the purge that destroyed the upload's item); the description says so."""
    schemas = description["components"]["schemas"]
    ok = description["paths"]["/api/v1/uploads/{upload_id}"]["get"]["responses"]["200"]
    upload = schemas[ok["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert "destruction" in upload["properties"], upload
    [record] = [
        s["$ref"].split("/")[-1]
        for s in upload["properties"]["destruction"]["anyOf"]
        if "$ref" in s
    ]
    assert set(schemas[record]["properties"]) == {
        "id",
        "media_id",
        "sha256",
        "rule",
        "expired_at",
        "purged_at",
    }, schemas[record]
