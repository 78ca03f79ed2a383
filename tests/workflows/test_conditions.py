"""Conditions and schedules as plain functions: properties that hold for any input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from mercato.workflows.definitions import holds, next_run
from mercato.workflows.schemas import Condition, Schedule

scalars = st.one_of(st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.decimals(-10**6, 10**6, places=2, allow_nan=False).map(str))


def check(op: str, actual: object, value: object) -> bool:
    return holds(Condition(path="data.x", op=op, value=value), {"data": {"x": actual}})


@given(scalars, scalars)
def test_ne_is_the_negation_of_eq_for_a_present_value(actual: object, value: object) -> None:
    assert check("ne", actual, value) is not check("eq", actual, value)


@given(st.decimals(-10**6, 10**6, places=2, allow_nan=False),
       st.decimals(-10**6, 10**6, places=2, allow_nan=False))
def test_numbers_compare_as_decimals_whatever_their_spelling(a: Decimal, b: Decimal) -> None:
    for actual in (str(a), float(a) if a == a.to_integral() else str(a)):
        assert check("gt", actual, str(b)) == (a > b)
        assert check("lte", actual, str(b)) == (a <= b)
        assert check("gte", actual, b.normalize().to_eng_string()) == (a >= b)
        assert check("eq", actual, f"{b:.4f}") == (a == b)


@given(scalars)
def test_an_absent_path_holds_only_for_ne_and_not_exists(value: object) -> None:
    data: dict[str, object] = {"data": {}}
    for op in ("eq", "gt", "gte", "lt", "lte", "contains"):
        assert not holds(Condition(path="data.x", op=op, value=value), data)
    assert holds(Condition(path="data.x", op="ne", value=value), data)
    assert holds(Condition(path="data.x", op="exists", value=False), data)
    assert not holds(Condition(path="data.x", op="exists"), data)


def test_in_and_contains() -> None:
    assert check("in", "paid", ["pending", "paid"])
    assert not check("in", "refunded", ["pending", "paid"])
    assert check("contains", ["vip", "wholesale"], "vip")
    assert check("contains", "express shipping", "express")
    assert not check("contains", 12, "1")


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                    timezones=st.just(dt.UTC)),
       st.integers(0, 23), st.integers(0, 59))
def test_a_daily_schedule_is_next_due_within_a_day_at_its_time(
        after: dt.datetime, hour: int, minute: int) -> None:
    due = next_run(Schedule(daily_at=f"{hour:02d}:{minute:02d}"), after)
    assert dt.timedelta(0) < due - after <= dt.timedelta(days=1)
    assert (due.hour, due.minute, due.second) == (hour, minute, 0)
