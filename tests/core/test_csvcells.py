"""CSV cells a spreadsheet would run as formulas are written as text, and read back as they were."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from mercato.core import csvcells


@given(st.text())
def test_an_escaped_cell_never_starts_a_formula_and_reads_back_exactly(value: str) -> None:
    escaped = csvcells.escape(value)
    assert escaped[:1] not in csvcells.FORMULA_STARTS
    assert csvcells.unescape(escaped) == value


def test_the_writer_escapes_text_and_leaves_numbers_alone() -> None:
    out = io.StringIO()
    csvcells.Writer(out, lineterminator="\n").writerow(
        ["=HYPERLINK(\"http://evil.test\",\"x\")", "@SUM(1)", "+1", "-2", -2, "'=x", "plain"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        "'=HYPERLINK(\"http://evil.test\",\"x\")", "'@SUM(1)", "'+1", "'-2", "-2", "''=x",
        "plain"]
