"""The adapter's pure readers (onvif_control/adapter/parsers.py): device URLs, values
from zeep objects, times and durations."""

from __future__ import annotations

import datetime as dt
import decimal
from types import SimpleNamespace

import pytest

from onvif_control.adapter.parsers import (
    as_float,
    duration,
    get_path,
    on_host,
    onvif_endpoint,
    parse_onvif_url,
    parse_utc,
    plain,
)
from vms.errors import InvalidArgument


@pytest.mark.parametrize(
    "url", ["ftp://host/", "http:///x", "http://u:p@host/onvif", "http://host:99999/"]
)
def test_bad_urls(url):
    with pytest.raises(InvalidArgument):
        parse_onvif_url(url)


@pytest.mark.parametrize("url", ["http://[::1/onvif", "http://[cam]/onvif", "http://admin:pw@[::1"])
def test_a_malformed_host_is_refused_naming_the_url_not_a_traceback(url):
    """urlsplit raises ValueError ("Invalid IPv6 URL") on a bracket it cannot read: it
    went out of ``vms camera add`` as a traceback and of the API as a server error."""
    with pytest.raises(InvalidArgument, match="onvif_url") as err:
        onvif_endpoint(url)
    assert "pw@" not in err.value.message


def test_endpoint_defaults_the_port_and_names_no_password():
    assert onvif_endpoint("http://Cam.Example/onvif/device_service") == ("http", "cam.example", 80)
    assert onvif_endpoint("https://cam:8443/onvif") == ("https", "cam", 8443)
    with pytest.raises(InvalidArgument, match="holds credentials") as err:
        onvif_endpoint("http://admin:s3cret-pw@cam/onvif")
    assert "s3cret-pw" not in err.value.message


def test_values_from_replies():
    reply = SimpleNamespace(Position={"PanTilt": SimpleNamespace(x="0.25", y=None)})
    assert get_path(reply, "Position", "PanTilt", "x") == "0.25"
    assert get_path(reply, "Position", "Zoom", "x") is None
    assert as_float("0.25") == 0.25 and as_float(None) is None and as_float("n/a") is None
    assert plain(
        {"a": decimal.Decimal("1.5"), "b": None, "c": [dt.timedelta(seconds=2)], "_value_1": 1}
    ) == {"a": 1.5, "c": [2.0]}


def test_times_and_durations():
    assert duration(1.0) == "PT1S" and duration(0.25) == "PT0.250S"
    assert parse_utc("2026-12-03T06:00:00Z") == dt.datetime(2026, 12, 3, 6, tzinfo=dt.UTC)
    assert parse_utc("2026-12-03T07:00:00+01:00") == dt.datetime(2026, 12, 3, 6, tzinfo=dt.UTC)
    # Valid text out of range once moved to UTC: no time, like any bad text.
    assert parse_utc("9999-12-31T23:59:59-05:00") is None
    assert parse_utc("0001-01-01T00:00:00+05:00") is None
    # A naive or unreadable time is no camera time at all.
    assert parse_utc("2026-12-03T06:00:00") is None
    assert parse_utc("yesterday") is None and parse_utc(None) is None


@pytest.mark.parametrize(
    "advertised, host, moved",
    [
        ("http://192.0.2.1:8080/onvif/ptz", "10.0.0.5", "http://10.0.0.5:8080/onvif/ptz"),
        ("https://user:pw@evil.example/onvif/media?x=1", "cam-5", "https://cam-5/onvif/media?x=1"),
        ("http://192.0.2.1/onvif/media", "fe80::1", "http://[fe80::1]/onvif/media"),
        ("file:///etc/passwd", "10.0.0.5", None),
        ("http://192.0.2.1:99999/onvif", "10.0.0.5", None),
    ],
)
def test_service_addresses_are_moved_to_the_cameras_own_host(advertised, host, moved):
    assert on_host(advertised, host) == moved
