"""The one parser of client times, whole numbers and months (#10.10): bounded, aware, and
refusing with InvalidArgument that names the field and the value."""

from __future__ import annotations

import datetime as dt

import pytest

from vms.bounded import (
    ANY_TIME,
    EARLIEST,
    LATEST,
    MAX_INT,
    parse_int,
    parse_month,
    parse_number,
    parse_time,
)
from vms.clock import parse_iso
from vms.errors import InvalidArgument

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T12:00:00Z", dt.datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("2026-11-20T12:00:00z", dt.datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("2026-11-20T14:00:00+02:00", dt.datetime(2026, 11, 20, 12, tzinfo=UTC)),
        (" 2026-11-20T12:00:00+00:00 ", dt.datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", EARLIEST),
        ("2200-12-31T23:59:59.999999Z", LATEST),
        ("1970-01-01T05:00:00+05:00", EARLIEST),  # the bound applies in UTC
    ],
)
def test_parse_time_accepts_aware_times_within_the_bounds_INV_7(
    text: str, expected: dt.datetime
) -> None:
    value = parse_time(text, "start")
    assert value == expected and value.tzinfo == UTC


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0001-01-01T00:00:00+14:00", "outside 1970-01-01T00:00:00Z .. 2200-12-31T23:59:59"),
        ("9999-12-31T23:59:59-14:00", "outside 1970-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "outside"),
        ("1969-12-31T23:59:59.999999Z", "outside"),
        ("1970-01-01T04:59:59+05:00", "outside"),
        ("2201-01-01T00:00:00Z", "outside"),
        ("2026-11-20T12:00:00", "no UTC offset"),
        ("2026-11-20", "no UTC offset"),
        ("yesterday", "not an ISO 8601 timestamp"),
        ("", "not an ISO 8601 timestamp"),
        ("2026-11-20T12:00:00Z" + " " * 100, "longer than 64"),
        (1_700_000_000, "not an ISO 8601 timestamp"),
        (None, "not an ISO 8601 timestamp"),
        (["2026-11-20T12:00:00Z"], "not an ISO 8601 timestamp"),
    ],
)
def test_parse_time_refuses_with_the_field_and_the_value(value: object, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_time(value, "received_at")
    assert caught.value.message.startswith("received_at: ")
    assert why in caught.value.message
    assert caught.value.details["field"] == "received_at"
    assert repr(value)[:30] in caught.value.message


def test_parse_time_takes_narrower_or_wider_bounds() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgument, match="outside 2026-01-01T00:00:00Z"):
        parse_time("2025-12-31T23:59:59Z", "at", earliest=start)
    old = parse_time("1900-01-01T00:00:00Z", "cursor", earliest=ANY_TIME[0], latest=ANY_TIME[1])
    assert old.year == 1900
    with pytest.raises(InvalidArgument, match="outside 0001-01-01"):  # still no overflow
        parse_time("0001-01-01T00:00:00+14:00", "cursor", earliest=ANY_TIME[0])


def test_parse_iso_turns_overflow_into_value_error() -> None:
    with pytest.raises(ValueError, match="start: '0001-01-01T00:00:00\\+14:00' is out of range"):
        parse_iso("0001-01-01T00:00:00+14:00", field="start")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("42", 42), (" 7 ", 7), ("+3", 3), (str(MAX_INT), MAX_INT), (12, 12)],
)
def test_parse_int_accepts_whole_numbers_in_range(value: object, expected: int) -> None:
    assert parse_int(value, "limit") == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("99999999999999999999999", "outside 0..9223372036854775807"),
        (str(MAX_INT + 1), "outside 0..9223372036854775807"),
        (2**70, "outside"),
        ("-1", "outside"),
        (-1, "outside"),
        ("1_000", "not a whole number"),
        ("\uff11\uff12", "not a whole number"),  # fullwidth digits
        ("1e3", "not a whole number"),
        ("1.0", "not a whole number"),
        (1.0, "not a whole number"),
        (True, "not a whole number"),
        ("", "not a whole number"),
        (None, "not a whole number"),
        ("9" * 5000, "not a whole number"),
    ],
)
def test_parse_int_refuses_with_the_field_and_the_value(value: object, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_int(value, "before_seq")
    message = caught.value.message
    assert message.startswith("before_seq: ") and why in message
    assert repr(value)[:30] in message
    assert len(message) < 200  # a huge value is echoed shortened


def test_parse_int_takes_per_field_bounds() -> None:
    assert parse_int("5", "days", minimum=1, maximum=10) == 5
    with pytest.raises(InvalidArgument, match=r"days: '0' is outside 1\.\.10"):
        parse_int("0", "days", minimum=1, maximum=10)
    assert parse_int("-5", "offset", minimum=-10) == -5


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2026-11", dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-02", dt.datetime(2027, 2, 1, tzinfo=UTC), dt.datetime(2027, 3, 1, tzinfo=UTC)),
        ("1970-01", dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(1970, 2, 1, tzinfo=UTC)),
        ("2200-12", dt.datetime(2200, 12, 1, tzinfo=UTC), dt.datetime(2201, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_month_gives_the_month_as_a_half_open_range(
    value: str, start: dt.datetime, end: dt.datetime
) -> None:
    assert parse_month(value, "month") == (start, end)


@pytest.mark.parametrize(
    "value",
    ["9999-12", "0000-01", "1969-12", "2201-01", "2026-13", "2026-00", "2026-1", "x", 202611],
)
def test_parse_month_refuses_with_the_field_and_the_value(value: object) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_month(value, "month")
    assert caught.value.message.startswith(f"month: {value!r} ")


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (-1.5, -1.5), (2**53, float(2**53))])
def test_parse_number_accepts_finite_json_numbers(value: object, expected: float) -> None:
    assert parse_number(value, "pan") == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (10**400, "must be a finite number"),  # float() raises OverflowError
        (float("nan"), "must be a finite number"),
        (float("-inf"), "must be a finite number"),
        ("1", "must be a number"),
        (True, "must be a number"),
        (None, "must be a number"),
    ],
)
def test_parse_number_refuses_with_the_field_and_the_value(value: object, why: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_number(value, "pan")
    assert caught.value.message.startswith(f"pan {why}, not ")
    assert repr(value)[:30] in caught.value.message and len(caught.value.message) < 200
