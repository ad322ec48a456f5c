"""The API contract: every ``/api/v1`` route declares its request and response models
(pydantic), and the OpenAPI 3.1 description is built from those declarations and the
app's URL map (issue 11, items 3 and 7; docs/design/web-layer.md).

A route is declared on an :class:`ApiBlueprint`::

    bp = ApiBlueprint("retention_api", __name__, tag="retention")

    @bp.operation("POST", "/legal-holds", body=NewHoldIn, response=HoldOut, status=201)
    def create_hold(body: NewHoldIn) -> HoldRecord:
        return retention().legal_holds.create(require_actor(), body.command())

The wrapper parses the query string (``query=``) and the JSON body (``body=``) into the
models before the handler runs (a malformed value is a 400 naming the field and the value,
never a 500), and turns what the handler returns (a domain value, a model, a mapping)
into JSON through the response model, so what leaves the server is what the description
promises. A handler that answers with something other than JSON (a file, CSV, an empty
204) returns a Flask ``Response``, which passes through untouched; ``responses=``
describes it.

Request models are strict (``extra="forbid"``, no coercion of ``"1"`` into ``1`` or
``"yes"`` into ``true``): the API takes what its description says and refuses the rest.
Query models are lax (everything in a query string is a string) and ignore unknown
parameters; an empty parameter counts as absent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from flask import Blueprint, Flask, Response, request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from vms.bounded import MAX_INT, parse_int, parse_number, parse_time, shown
from vms.clock import isoformat
from vms.errors import InvalidArgument
from web.security import require_actor

M = TypeVar("M", bound="BaseModel")

API_PREFIX = "/api/v1"
# Errors listed in one 400 at most (the rest are summarised by count).
MAX_ERRORS_SHOWN = 5


# -- field types ------------------------------------------------------------------------


def _bounded(parse: Callable[..., Any], **kwargs: Any) -> Callable[[Any], Any]:
    """A pydantic validator from one of ``vms.bounded``'s parsers: its refusal becomes a
    validation error whose message is the parser's reason (the field and value are added
    by :func:`validation_message`)."""

    def validate(value: Any) -> Any:
        try:
            return parse(value, "value", **kwargs)
        except InvalidArgument as exc:
            reason = (
                exc.message.removeprefix("value: ")
                .removeprefix("value ")  # parse_number's "value must be a number, not X"
                .removeprefix(shown(value))
                .removesuffix(f", not {shown(value)}")
                .strip()
            )
            raise PydanticCustomError("vms_bounded", reason) from None

    return validate


def _iso(value: dt.datetime) -> str:
    return isoformat(value) or ""


# An aware UTC time in years 1970..2200 (INV-7, #10.10), written ISO 8601 with ``Z``.
Time = Annotated[
    dt.datetime,
    BeforeValidator(_bounded(parse_time)),
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# A time the VMS itself wrote (no input bounds): for responses.
OutTime = Annotated[
    dt.datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


@dataclasses.dataclass(frozen=True)
class Range:
    """``Annotated[int, Range(1, 500)]``: a whole number in ``minimum..maximum`` (a JSON
    integer, or ASCII digits in a query string)."""

    minimum: int = 0
    maximum: int = MAX_INT

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> CoreSchema:
        validate = _bounded(parse_int, minimum=self.minimum, maximum=self.maximum)
        return core_schema.no_info_plain_validator_function(validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


# An id a client names for its request, so a retry after a lost answer is answered as
# the first was (ACC-6): a UUID in lower-case hex (what the server makes too).
RequestId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]

# A finite number (no NaN, no infinities, no integers too large for a float).
Number = Annotated[
    float,
    BeforeValidator(_bounded(parse_number)),
    WithJsonSchema({"type": "number"}),
]


@dataclasses.dataclass(frozen=True)
class Printable:
    """``Annotated[str, Printable(200)]``: a printable string of at most ``max_len``
    characters, stripped (newlines and tabs allowed, unless ``multiline=False``: a
    one-line text such as a title); ``required=True``: not empty."""

    max_len: int
    required: bool = False
    multiline: bool = True

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError("vms_text", "is not a string")
        value = value.strip()
        if len(value) > self.max_len:
            raise PydanticCustomError("vms_text", f"is longer than {self.max_len} characters")
        allowed = "\n\t" if self.multiline else ""
        if not all(c.isprintable() or c in allowed for c in value):
            raise PydanticCustomError("vms_text", "has characters that are not printable")
        if self.required and not value:
            raise PydanticCustomError("vms_text", "is empty")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_len}
        if self.required:
            out |= {"minLength": 1, "pattern": r"\S"}
        return out


# -- models -----------------------------------------------------------------------------


class RequestModel(BaseModel):
    """A JSON request body: strict types, unknown fields refused, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RequestIdIn(RequestModel):
    """The optional body of a step that takes nothing else (acknowledge an alarm, start
    a release's review, record the release). ``request_id``: a UUID of the client's; a
    retry with it after a lost answer is answered as the first request was (ACC-6),
    while another attempt is still a 409."""

    request_id: RequestId | None = None


class QueryModel(BaseModel):
    """A query string: values are strings parsed by the field types; unknown parameters
    are ignored (a cache-busting ``_=`` must not fail a request)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    """A JSON response, read from a domain value's attributes (or a mapping)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)


class ErrorDetail(ResponseModel):
    kind: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(ResponseModel):
    """Every error of the API: ``{"error": {"kind", "message", "details"?}}``."""

    error: ErrorDetail


def _loc(loc: Iterable[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validation_message(exc: ValidationError, where: str = "") -> str:
    """One readable line per problem: the field, what is wrong, and the value sent."""
    lines = []
    for error in exc.errors(include_url=False)[:MAX_ERRORS_SHOWN]:
        loc = _loc([where, *error["loc"]] if where else error["loc"])
        kind = error["type"]
        if kind == "missing":
            lines.append(f"{loc} is required")
        elif kind == "extra_forbidden":
            lines.append(f"{loc} is not a field of this request")
        elif kind.startswith("vms_"):
            lines.append(f"{loc}: {shown(error['input'])} {error['msg']}")
        elif kind in ("literal_error", "enum"):
            expected = error.get("ctx", {}).get("expected", "")
            lines.append(f"{loc}: {shown(error['input'])} must be one of {expected}")
        else:
            reason = error["msg"][:1].lower() + error["msg"][1:]
            lines.append(f"{loc}: {shown(error['input'])} is not valid: {reason}")
    more = exc.error_count() - MAX_ERRORS_SHOWN
    if more > 0:
        lines.append(f"and {more} more")
    return "; ".join(lines)


def parse_model(model: type[M], data: Any, where: str = "") -> M:
    """``data`` validated into ``model``; InvalidArgument (400) naming every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = _loc([where, *first["loc"]] if where else first["loc"])
        details = {"field": field}
        if first["type"] != "missing":
            details["value"] = shown(first["input"])
        raise InvalidArgument(validation_message(exc, where), **details) from None


def _query_data() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in request.args:
        values = [v for v in request.args.getlist(key) if v != ""]
        if values:
            data[key] = values if len(values) > 1 else values[0]
    return data


def query_data() -> dict[str, Any]:
    """The current request's query string as a query model takes it (empty parameters
    absent, repeated ones a list): for pages that parse a :class:`QueryModel` themselves."""
    return _query_data()


def _json_data() -> Any:
    if not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise InvalidArgument(
            f"the request body must be JSON (Content-Type: application/json), not "
            f"{request.mimetype or 'none'!r}"
        )
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidArgument("the request body is not valid JSON")
    return body


# -- operations -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operation:
    """What one route promises: its input models, its answer, its description."""

    method: str
    rule: str
    summary: str
    description: str
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any  # a model type, or None for no JSON body
    status: int
    responses: Mapping[int, Mapping[str, Any]]
    raw_body: Mapping[str, Any] | None
    public: bool
    body_required: bool


class ApiBlueprint(Blueprint):
    """A blueprint whose routes are declared with :meth:`operation`."""

    def __init__(self, name: str, import_name: str, *, tag: str) -> None:
        super().__init__(name, import_name)
        self.tag = tag

    def operation(
        self,
        method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
        rule: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        responses: Mapping[int, Mapping[str, Any]] | None = None,
        raw_body: Mapping[str, Any] | None = None,
        public: bool = False,
        body_required: bool = True,
        before: Callable[[], object] | None = None,
        on_invalid_body: Callable[..., None] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a route. ``body``/``query``: the models the handler receives as the
        keyword arguments ``body`` and ``query``; ``response``: the model its return value
        is written through (status ``status``); ``responses``: other answers (OpenAPI
        response objects by status, e.g. a file); ``raw_body``: the OpenAPI content of a
        body the handler reads itself (uploads); ``public``: no credential needed;
        ``body_required=False``: an empty body is an empty object; ``before``: called
        before the request is parsed (a permission check whose refusal must outrank a
        malformed query); ``on_invalid_body(error, data, **path)``: called before a
        refused body's 400 is raised (it may raise another error instead), for routes
        that must audit a refused request (PTZ commands, INV-6)."""

        def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
            doc = inspect.getdoc(handler) or ""
            summary, _, description = doc.partition("\n\n")
            op = Operation(
                method=method,
                rule=rule,
                summary=" ".join(summary.split()) or handler.__name__.replace("_", " "),
                description=description.strip(),
                tag=self.tag,
                body=body,
                query=query,
                response=response,
                status=status,
                responses=responses or {},
                raw_body=raw_body,
                public=public,
                body_required=body_required,
            )
            adapter = TypeAdapter(response) if response is not None else None

            @functools.wraps(handler)
            def view(**path: Any) -> Any:
                kwargs: dict[str, Any] = dict(path)
                if not public:
                    # Who is asking comes before what they asked: an anonymous caller
                    # gets 401, never a description of what a valid body looks like.
                    require_actor()
                if before is not None:
                    before()
                if query is not None:
                    kwargs["query"] = parse_model(query, _query_data())
                if body is not None:
                    data: Any = None
                    try:
                        data = _json_data()
                        if data == {} and body_required and not request.get_data(cache=True):
                            raise InvalidArgument("the request body must be a JSON object")
                        if not isinstance(data, dict):
                            raise InvalidArgument("the request body must be a JSON object")
                        kwargs["body"] = parse_model(body, data)
                    except InvalidArgument as exc:
                        if on_invalid_body is not None:
                            on_invalid_body(exc, data, **path)
                        raise
                result = handler(**kwargs)
                if isinstance(result, Response):
                    return result
                if adapter is None:
                    return Response(status=204)
                value = adapter.validate_python(result, from_attributes=True)
                return Response(
                    adapter.dump_json(value),
                    status=status,
                    mimetype="application/json",
                )

            view.__api_operation__ = op  # type: ignore[attr-defined]
            self.add_url_rule(rule, view_func=view, methods=[method])
            return view

        return decorate


def operation_of(app: Flask, endpoint: str) -> Operation | None:
    return getattr(app.view_functions.get(endpoint), "__api_operation__", None)


# -- the OpenAPI description ------------------------------------------------------------

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """A werkzeug rule as an OpenAPI path template, with its path parameters."""
    params = []
    for m in _CONVERTER.finditer(rule):
        schema: dict[str, Any] = {"type": "integer"} if m["conv"] == "int" else {"type": "string"}
        params.append({"name": m["name"], "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule), params


class _Schemas:
    """Collects the JSON Schemas of every model, with ``$ref`` into components."""

    REF = "#/components/schemas/{model}"

    def __init__(self) -> None:
        self.keys: list[tuple[Any, Literal["validation", "serialization"]]] = []

    def add(self, model: Any, mode: Literal["validation", "serialization"]) -> tuple[Any, str]:
        key = (model, mode)
        if key not in self.keys:
            self.keys.append(key)
        return key

    def build(self) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
        inputs = [(key, key[1], TypeAdapter(key[0])) for key in self.keys]
        mapping, defs = TypeAdapter.json_schemas(inputs, ref_template=self.REF)
        return {key: schema for (key, _mode), schema in mapping.items()}, defs.get("$defs", {})


def _query_parameters(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Any]:
    ref = schema.get("$ref")
    if ref is not None:
        schema = defs[ref.rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def build_openapi(app: Flask, *, title: str = "VMS API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 description of every ``/api/v1`` route of ``app``."""
    schemas = _Schemas()
    error_key = schemas.add(ErrorBody, "serialization")
    found: list[tuple[str, list[dict[str, Any]], Operation, str]] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = operation_of(app, rule.endpoint)
        if op is None or not rule.rule.startswith(API_PREFIX):
            continue
        path, params = openapi_path(rule.rule)
        found.append((path, params, op, rule.endpoint))
        for model, mode in (
            (op.body, "validation"),
            (op.query, "validation"),
            (op.response, "serialization"),
        ):
            if model is not None:
                schemas.add(model, mode)  # type: ignore[arg-type]
    mapping, defs = schemas.build()

    paths: dict[str, dict[str, Any]] = {}
    for path, params, op, endpoint in found:
        entry: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": op.summary,
            "tags": [op.tag],
        }
        if op.description:
            entry["description"] = op.description
        parameters = list(params)
        if op.query is not None:
            parameters += _query_parameters(mapping[(op.query, "validation")], defs)
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": mapping[(op.body, "validation")]}},
            }
        elif op.raw_body is not None:
            entry["requestBody"] = {"required": True, "content": dict(op.raw_body)}
        responses: dict[str, Any] = {}
        if op.response is not None:
            responses[str(op.status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": mapping[(op.response, "serialization")]}
                },
            }
        elif not op.responses:
            responses[str(op.status if op.status != 200 else 204)] = {"description": "Done"}
        for status, answer in op.responses.items():
            # Another form of the same answer (CSV besides JSON) joins its content.
            same = responses.get(str(status), {})
            responses[str(status)] = {
                **same,
                **answer,
                "content": {**same.get("content", {}), **answer.get("content", {})},
            }
        responses["default"] = {
            "description": "An error: what was wrong, with which value",
            "content": {"application/json": {"schema": mapping[error_key]}},
        }
        entry["responses"] = responses
        if not op.public:
            entry["security"] = [{"bearer": []}, {"session": []}]
        paths.setdefault(path, {})[op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "vms_session"},
            },
        },
    }


def binary(content_type: str, description: str) -> dict[str, Any]:
    """An OpenAPI response object for a file of ``content_type``."""
    return {
        "description": description,
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
    }


def text(content_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {content_type: {"schema": {"type": "string"}}}}
