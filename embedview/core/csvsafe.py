"""Cells that a spreadsheet would not run: OWASP's rule against CSV (formula) injection.

A cell of a CSV export that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
read as a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``=cmd|...``).  Every
CSV embedview writes passes its cells through :func:`safe_cell`, which prefixes such a string with a
single quote (the spreadsheet then shows it as text); numbers are left as they are, so ``-0.5``
stays a number.  JSON exports keep the raw values.

See https://owasp.org/www-community/attacks/CSV_Injection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Number
from typing import Any

#: the first characters a spreadsheet reads as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a string (or other non-number) whose
    text starts with one of :data:`FORMULA_START` gets a leading ``'``; numbers, booleans and
    ``None`` are returned unchanged."""
    if value is None or isinstance(value, (Number, bool)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of every cell of a row (for ``csv.writer.writerow``)."""
    return [safe_cell(v) for v in values]


def safe_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`safe_cell` of every value of a row (for ``csv.DictWriter.writerow``)."""
    return {k: safe_cell(v) for k, v in row.items()}
