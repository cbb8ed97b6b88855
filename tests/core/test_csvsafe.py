"""OWASP's rule for CSV cells: text a spreadsheet would run as a formula gets a leading quote."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from embedview.core.csvsafe import safe_cell, safe_dict, safe_row


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://evil.example","click")'])
def test_formula_starts_are_quoted(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "", "a=b", " =1", "'already", "café", "1e5"])
def test_other_text_is_unchanged(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [-1, -0.5, 3, 0.0, True, None, np.float32(-0.25), np.int64(-7)])
def test_numbers_are_unchanged(value):
    assert safe_cell(value) is value


def test_other_objects_are_judged_by_their_text():
    assert safe_cell(np.str_("=x")) == "'=x"

    class Weird:
        def __str__(self):
            return "@me"

    assert safe_cell(Weird()) == "'@me"


def test_rows_and_dicts_round_trip_through_csv():
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(safe_row([1, "=cmd", -0.5, "ok"]))
    w = csv.DictWriter(buf, fieldnames=["a", "b"])
    w.writerow(safe_dict({"a": "+1", "b": 2}))
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows == [["1", "'=cmd", "-0.5", "ok"], ["'+1", "2"]]
