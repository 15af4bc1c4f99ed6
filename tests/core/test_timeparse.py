"""The rule every date parser follows (dedupe.core.timeparse): a date that cannot be read is None,
never an error; the catalog's ISO form and Apple's CSV form both go through it."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from photoverify.dedupe.core.timeparse import date_match, parse, wall_clock

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@pytest.mark.parametrize("text", [None, "", "2021-4-1", "yesterday"])
def test_no_text_or_another_form_is_no_match(text):
    assert date_match(_DAY, text) is None


def test_a_match_gives_the_parts():
    assert date_match(_DAY, "2021-04-01").groups() == ("2021", "04", "01")


@pytest.mark.parametrize(
    "parts", [(2021, 2, 30, 10, 0, 0), (2021, 4, 11, 25, 0, 0), (0, 1, 1, 0, 0, 0)]
)
def test_a_time_that_does_not_exist_is_none(parts):
    assert wall_clock(*parts) is None


def test_a_time_that_exists_is_naive():
    assert wall_clock(2021, 4, 11, 15, 47, 53) == datetime(2021, 4, 11, 15, 47, 53)


@pytest.mark.parametrize("text", [None, "", "x", "2021-02-30T10:00:00", "2021-04-11T25:47:53Z"])
def test_capture_times_that_cannot_be_read_are_none(text):
    assert parse(text) is None


def test_a_leap_second_is_the_last_second_of_its_minute():
    assert parse("2021-04-11T15:47:60.054-05:00").wall == datetime(2021, 4, 11, 15, 47, 59)
