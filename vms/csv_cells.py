"""Cells of the CSV files that auditors open in a spreadsheet: the PTZ audit
(``/audit/ptz?format=csv``, PSCS-5) and the monthly audit (OPS-7, TAG-7).

Excel, LibreOffice Calc and Google Sheets read a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula (a tab or carriage return before one too), even when the
CSV quotes it. Some cells hold text that the people being audited typed: a dispatcher's
incident number, a refusal's reason, a badge an upload claimed. Such a cell could make the
auditor's spreadsheet fetch a URL carrying the other cells (``=HYPERLINK``,
``=WEBSERVICE``, ``=IMPORTXML``) or, with DDE, run a program. :func:`csv_cell` prefixes
those cells with an apostrophe, as OWASP advises ("CSV Injection"): a spreadsheet shows the
text as typed and runs nothing; a script reading the file sees the apostrophe.
Numbers are written as numbers (a negative pan stays ``-12.5``).
"""

from __future__ import annotations

from collections.abc import Iterable

# The first characters that make a spreadsheet evaluate a cell (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` for a CSV cell: text a spreadsheet would evaluate gets a leading ``'``;
    anything else (numbers, other text, None) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[object]) -> list[object]:
    """:func:`csv_cell` of each value of a row."""
    return [csv_cell(v) for v in values]
