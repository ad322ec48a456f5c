"""The cameras and PTZ request models (web/schemas/cameras.py, web/schemas/ptz.py): what
they refuse (a 400 naming the field and the value) and the command values they make for
the services (issue 11, item 3)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from onvif_control.cameras import CameraChanges, NewCamera
from onvif_control.guard import CommandRequest, Op
from onvif_control.ptz_sessions import OpenSession
from vms.camera_model import Calibration
from vms.errors import InvalidArgument
from web.contract import parse_model
from web.schemas.cameras import CalibrationIn, CameraPatchIn, NewCameraIn
from web.schemas.ptz import OpenSessionIn, PtzCommandIn

CAMERA = {"name": " gate ", "onvif_url": "http://h/onvif", "username": "u", "password": " p "}


def test_a_command_body_becomes_a_command_value() -> None:
    body = {"session_id": "s1", "op": "absolute", "pan": 1, "units": "degrees"}
    asked = parse_model(PtzCommandIn, body).command()
    assert asked == CommandRequest("s1", Op.ABSOLUTE, "degrees", pan=1.0)
    assert asked.given() == {"pan": 1.0, "units": "degrees"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "stop"}, "session_id is required"),
        ({"session_id": "s", "op": "spin"}, "op: 'spin' must be one of"),
        ({"session_id": "s", "op": "absolute", "pan": "left"}, "pan: 'left' must be a number"),
        ({"session_id": "s", "op": "absolute", "pan": True}, "pan: True must be a number"),
        ({"session_id": "s", "op": "absolute", "tilt": float("nan")}, "tilt: nan must be a finite"),
        ({"session_id": "s", "op": "set_preset", "preset": ""}, "preset: '' is empty"),
        ({"session_id": "s", "op": "set_preset", "preset": "x" * 65}, "longer than 64"),
        ({"session_id": "s", "op": "stop", "roll": 1}, "roll is not a field of this request"),
        ({"session_id": "s", "op": "absolute", "units": "rad"}, "units: 'rad' must be one of"),
    ],
)
def test_malformed_commands_are_refused_naming_field_and_value(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_model(PtzCommandIn, body)


def test_a_session_request_becomes_a_command_value() -> None:
    ask = parse_model(OpenSessionIn, {"purpose": "event", "incident_number": " I-7 "}).command()
    assert ask == OpenSession("event", "I-7", None, False)
    with pytest.raises(InvalidArgument, match="reserve: 'yes' is not valid"):
        parse_model(OpenSessionIn, {"reserve": "yes"})
    with pytest.raises(InvalidArgument, match="incident_number: '  ' is empty"):
        parse_model(OpenSessionIn, {"purpose": "event", "incident_number": "  "})


def test_a_camera_body_becomes_a_command_value() -> None:
    new = parse_model(NewCameraIn, {**CAMERA, "calibration": {"pan_min": -90}}).command()
    # Text is stripped; a password is kept as it was sent.
    assert new == NewCamera("gate", "http://h/onvif", "u", " p ", Calibration(pan_min=-90.0))
    assert parse_model(CameraPatchIn, {"name": "x"}).command() == CameraChanges(name="x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**CAMERA, "name": ""}, "name: '' is empty"),
        ({**CAMERA, "password": "  "}, "password: '  ' is not valid"),
        ({k: v for k, v in CAMERA.items() if k != "password"}, "password is required"),
        ({**CAMERA, "z": 1}, "z is not a field of this request"),
        ({**CAMERA, "calibration": {"pan_mni": 1}}, "calibration.pan_mni is not a field"),
        ({**CAMERA, "calibration": {"hfov_wide": "wide"}}, "calibration.hfov_wide: 'wide'"),
    ],
)
def test_malformed_cameras_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_model(NewCameraIn, body)


def test_a_calibration_the_camera_model_refuses_is_a_400() -> None:
    with pytest.raises(InvalidArgument, match=re.escape("pan range 10.0..-10.0")):
        parse_model(CalibrationIn, {"pan_min": 10, "pan_max": -10}).command()


def test_the_description_declares_the_camera_and_ptz_models(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]

    def ref(op: dict[str, Any], where: str = "requestBody") -> str:
        content = op[where]["content"] if where == "requestBody" else op["responses"][where]
        if where != "requestBody":
            content = content["content"]
        return str(content["application/json"]["schema"]["$ref"]).rsplit("/", 1)[1]

    command = paths["/api/v1/cameras/{camera_id}/ptz"]["post"]
    assert ref(command) == "PtzCommandIn" and ref(command, "200") == "CommandOut"
    assert schemas["PtzCommandIn"]["additionalProperties"] is False
    assert ref(paths["/api/v1/cameras"]["post"]) == "NewCameraIn"
    assert ref(paths["/api/v1/cameras"]["post"], "201") == "CameraDetailOut"
    assert "204" in paths["/api/v1/cameras/{camera_id}"]["delete"]["responses"]
    audit = paths["/api/v1/audit/ptz"]["get"]["responses"]["200"]["content"]
    assert set(audit) == {"application/json", "text/csv"}
    query = {p["name"] for p in paths["/api/v1/audit/ptz"]["get"]["parameters"]}
    assert query == {"camera", "user", "start", "end", "format"}
