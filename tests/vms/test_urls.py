"""URLs without their credentials (#10.11): the one redaction every log, audit entry,
error and API answer goes through. Pure."""

from __future__ import annotations

import pytest

from vms.urls import redact_credentials, redact_json, stream_url_problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.7:554/stream1", "rtsp://admin:***@10.0.0.7:554/stream1"),
        ("http://u:p%40ss@cam/onvif/device_service", "http://u:***@cam/onvif/device_service"),
        # A raw "@" in the password: everything up to the host's "@" is hidden.
        ("rtsp://admin:p@ss@cam:554/x", "rtsp://admin:***@cam:554/x"),
        ("https://TOKEN@example.org/x", "https://***@example.org/x"),
        ("http://:pw@host/", "http://***@host/"),
        (
            "[Errno 111] Connection refused: 'rtsp://a:b@127.0.0.1:1/s' after rtsp://c:d@h2/s",
            "[Errno 111] Connection refused: 'rtsp://a:***@127.0.0.1:1/s' after rtsp://c:***@h2/s",
        ),
        ("http://cam.example/onvif/device_service", "http://cam.example/onvif/device_service"),
        ("mail ops@example.org about http://cam/x", "mail ops@example.org about http://cam/x"),
        ("", ""),
    ],
)
def test_passwords_in_urls_are_redacted(text, expected):
    assert redact_credentials(text) == expected
    assert redact_credentials(expected) == expected  # idempotent


def test_redact_json_reaches_nested_strings_and_keeps_other_values():
    value = {
        "onvif_url": "http://u:pw@h/",
        "list": ["rtsp://u:pw@h/1", 3, None, True],
        "nested": {"rtsp://u:pw@h/k": 1.5},
    }
    assert redact_json(value) == {
        "onvif_url": "http://u:***@h/",
        "list": ["rtsp://u:***@h/1", 3, None, True],
        "nested": {"rtsp://u:***@h/k": 1.5},
    }


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rtsps://cam:99999/stream", "it does not parse as a URL with a TCP port"),
        ("rtsp://cam:x1/stream", "it does not parse as a URL with a TCP port"),
        ("rtsp://cam/stream", None),
        ("rtsps://CAM:322/stream", None),
    ],
)
def test_a_stream_uri_whose_port_is_none_is_not_opened(url: str, problem: str | None) -> None:
    """A camera's GetStreamUri answer naming a port that is none (out of range, not a
    number) was let through to be stored: the certificate API's handshake (a 500) and
    the recorder's rtsps relay read its port with ``urlsplit(...).port``, which raises
    ValueError. It is refused at onboarding, and not recorded, as another scheme is."""
    found = stream_url_problem(url, "cam")
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found
