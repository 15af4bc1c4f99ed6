"""Capture times as the catalog holds them (ISO 8601, sub-seconds and offset optional): parsing
and the comparisons the duplicate graph needs; the rule every date parser follows (a date that
cannot be read is None: `date_match`, `wall_clock`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$"
)


@dataclass(frozen=True)
class CaptureTime:
    wall: datetime  # the local wall-clock time, to the second, naive
    subsec: str | None  # the digits after the decimal point, as written
    offset: timedelta | None

    @property
    def instant(self) -> datetime | None:
        return None if self.offset is None else self.wall - self.offset


def date_match(pattern: re.Pattern[str], text: str | None) -> re.Match[str] | None:
    """`text` matched against the pattern of a written date; None when there is no text or it
    is not in that form: a date that cannot be read is no date, never an error."""
    return pattern.match(text) if text else None


def wall_clock(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> datetime | None:
    """A naive wall-clock time from a written date's parts; None when they name no time that
    exists (February 30, 25:00)."""
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def parse(text: str | None) -> CaptureTime | None:
    m = date_match(_ISO, text)
    if m is None:
        return None
    y, mo, d, h, mi, s, sub, tz = m.groups()
    wall = wall_clock(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59))
    if wall is None:
        return None
    offset = None
    if tz:
        if tz == "Z":
            offset = timedelta(0)
        else:
            sign = 1 if tz[0] == "+" else -1
            offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return CaptureTime(wall, sub, offset)


def same_second(a: CaptureTime, b: CaptureTime) -> bool:
    """One capture instant to the second: the same wall clock, or the same instant when both
    carry offsets (a converter that rewrote the time in another zone)."""
    if a.wall == b.wall:
        return True
    return a.instant is not None and b.instant is not None and a.instant == b.instant


def subsec_equal(a: CaptureTime, b: CaptureTime) -> bool | None:
    """Equal sub-seconds (compared on the digits both have), or None when either lacks them."""
    if a.subsec is None or b.subsec is None:
        return None
    n = min(len(a.subsec), len(b.subsec))
    return a.subsec[:n] == b.subsec[:n]


def seconds_apart(a: str | None, b: str | None) -> float | None:
    """Absolute difference in seconds (instants when both have offsets, else wall clocks)."""
    pa, pb = parse(a), parse(b)
    if pa is None or pb is None:
        return None
    if pa.instant is not None and pb.instant is not None:
        delta = pa.instant - pb.instant
    else:
        delta = pa.wall - pb.wall
    frac_a = float("0." + pa.subsec) if pa.subsec else 0.0
    frac_b = float("0." + pb.subsec) if pb.subsec else 0.0
    return abs(delta.total_seconds() + frac_a - frac_b)


def now_iso(zulu: bool = False) -> str:
    """The time photoverify stamps its own records with (catalog, plan, journal, ledger, JSON
    manifest): UTC to the second, ISO 8601; `zulu` writes `Z` for `+00:00` (the JSON manifest)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z") if zulu else stamp
