"""CSV cells a spreadsheet would evaluate are given as text (PSCS-5, OPS-7)."""

from __future__ import annotations

import pytest

from vms.csv_cells import csv_cell, csv_row


@pytest.mark.parametrize(
    "typed",
    ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", '=cmd|" /C calc"!A0'],
)
def test_text_a_spreadsheet_would_evaluate_gets_an_apostrophe_PSCS_5(typed: str) -> None:
    assert csv_cell(typed) == "'" + typed


@pytest.mark.parametrize("kept", ["C-9", "2026-11-20T21:50:00Z", '{"pan": -1}', "", " =1"])
def test_other_text_is_kept(kept: str) -> None:
    assert csv_cell(kept) == kept


def test_numbers_and_none_are_kept() -> None:
    assert csv_row([-12.5, -3, None, True, "=x"]) == [-12.5, -3, None, True, "'=x"]
