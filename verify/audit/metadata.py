"""What a DEST copy lost of its source's metadata and pixels: capture time (a time-zone shift
told apart from a wrong time, `classify_capture`), GPS position, the labels a person gave,
camera, and resolution (`compare_metadata`). Pure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.core.timeparse import parse as parse_time
from photoverify.dedupe.match.companions import LABELS
from photoverify.verify.audit.outcomes import CHECK, finding
from photoverify.verify.checks.expect import GPS_TOLERANCE_M, compare_capture, distance_m

MAX_ZONE_SHIFT = timedelta(hours=14)
HALF_HOUR = 1800
RESOLUTION_SLACK = 0.99  # fewer than 99 % of the pixels is a reduction, not rounding


def _human_seconds(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:g} s"
    days, rest = divmod(round(s), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs else "",
    ]
    return sign + " ".join(p for p in parts if p)


def _offset_text(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def classify_capture(expected: str | None, actual: str | None) -> tuple[str, str, dict] | None:
    """(outcome, severity, evidence) when `actual` does not keep the capture time `expected`.

    Builds on verify.expect.compare_capture (lost / precision-lost), and tells a time-zone shift
    (wall clocks a whole number of half hours apart, at most 14 h, same seconds and sub-seconds,
    or the same wall clock under another offset) from a shifted, wrong time.
    """
    if not expected:
        return None
    base = compare_capture(expected, actual)
    pe, pa = parse_time(expected), parse_time(actual)
    if base is not None and base[0] in ("capture-time-lost", "capture-time-precision-lost"):
        return base
    if pe is None or pa is None:
        return base  # unparseable text: compare_capture's "changed"
    wall_shift = (pa.wall - pe.wall).total_seconds()
    sub_ok = (
        pe.subsec is None
        or pa.subsec is None
        or (
            pe.subsec[: min(len(pe.subsec), len(pa.subsec))]
            == pa.subsec[: min(len(pe.subsec), len(pa.subsec))]
        )
    )
    evidence: dict[str, Any] = {"expected": expected, "actual": actual}
    instant_same = None
    if pe.instant is not None and pa.instant is not None:
        instant_same = pe.instant == pa.instant
    offsets_differ = pe.offset is not None and pa.offset is not None and pe.offset != pa.offset
    if base is None and wall_shift == 0 and not offsets_differ:
        return None  # the same moment, written the same way up to the format
    zone_like = (
        sub_ok
        and wall_shift % HALF_HOUR == 0
        and abs(wall_shift) <= MAX_ZONE_SHIFT.total_seconds()
        and (wall_shift != 0 or offsets_differ)
    )
    if zone_like:
        evidence.update(
            {
                "shift_hours": wall_shift / 3600,
                "offset_before": _offset_text(pe.offset),
                "offset_after": _offset_text(pa.offset),
                "instant_same": instant_same,
            }
        )
        return "capture-time-zone-shift", "warning", evidence
    if pe.instant is not None and pa.instant is not None:
        shift = (pa.instant - pe.instant).total_seconds()
    else:
        shift = wall_shift
    frac_e = float("0." + pe.subsec) if pe.subsec else 0.0
    frac_a = float("0." + pa.subsec) if pa.subsec else 0.0
    if pe.subsec and pa.subsec:
        shift += frac_a - frac_e
    evidence.update({"shift_seconds": round(shift, 3), "shift": _human_seconds(shift)})
    return "capture-time-shifted", "error", evidence


def compare_metadata(src: FileRecord, dst: FileRecord) -> list[Finding]:
    """What `dst` lost of `src`'s metadata and pixels. Pure. Findings name the DEST file."""
    found = (
        _capture_finding(src, dst),
        _gps_finding(src, dst),
        _labels_finding(src, dst),
        _camera_finding(src, dst),
        _resolution_finding(src, dst),
    )
    return [f for f in found if f is not None]


def _capture_finding(src: FileRecord, dst: FileRecord) -> Finding | None:
    sm, dm = src.metadata, dst.metadata
    diff = classify_capture(sm.captured_at, dm.captured_at)
    if diff is None:
        return None
    outcome, severity, evidence = diff
    if outcome == "capture-time-lost":
        message = f"capture time {sm.captured_at} ({sm.captured_source}) is gone"
    elif outcome == "capture-time-precision-lost":
        lost = " and ".join(evidence.get("lost", []))
        message = f"capture time {sm.captured_at} is now {dm.captured_at} (lost its {lost})"
    elif outcome == "capture-time-zone-shift":
        message = (
            f"capture time moved {evidence['shift_hours']:+g} h on the clock, "
            f"{sm.captured_at} -> {dm.captured_at} (a time-zone shift)"
        )
    elif outcome == "capture-time-shifted":
        message = f"capture time shifted {evidence['shift']}: {sm.captured_at} -> {dm.captured_at}"
    else:
        message = f"capture time changed from {sm.captured_at} to {dm.captured_at}"
    return Finding(
        dst.path,
        CHECK,
        severity,
        outcome,
        f"{dst.path}: {message}",
        {"source": src.path, **evidence},
    )


def _gps_finding(src: FileRecord, dst: FileRecord) -> Finding | None:
    sm, dm = src.metadata, dst.metadata
    if sm.gps is None:
        return None
    if dm.gps is None:
        return finding(
            dst.path,
            "gps-lost",
            f"GPS position {sm.gps_lat:.6f}, {sm.gps_lon:.6f} ({sm.gps_source}) is gone",
            source=src.path,
            expected=sm.gps,
            actual=None,
        )
    moved = distance_m(sm.gps, dm.gps)
    if moved <= GPS_TOLERANCE_M:
        return None
    return finding(
        dst.path,
        "gps-moved",
        f"GPS position moved {moved:.1f} m",
        source=src.path,
        expected=sm.gps,
        actual=dm.gps,
        distance_m=round(moved, 3),
    )


def _labels_finding(src: FileRecord, dst: FileRecord) -> Finding | None:
    sm, dm = src.metadata, dst.metadata
    labels = {k: getattr(sm, k) for k in LABELS if getattr(sm, k) is not None}
    gone = [k for k in labels if getattr(dm, k) is None]
    if not gone:
        return None
    return finding(
        dst.path,
        "labels-lost",
        "the photo's " + ", ".join(f"{k} {labels[k]!r}" for k in gone) + " is gone",
        source=src.path,
        lost={k: labels[k] for k in gone},
    )


def _camera_finding(src: FileRecord, dst: FileRecord) -> Finding | None:
    sm, dm = src.metadata, dst.metadata
    lost = [k for k in ("make", "model") if getattr(sm, k) and not getattr(dm, k)]
    if lost:
        return finding(
            dst.path,
            "camera-lost",
            f"camera {' '.join(filter(None, (sm.make, sm.model)))} is gone ({' and '.join(lost)})",
            source=src.path,
            lost=lost,
            make=sm.make,
            model=sm.model,
        )
    changed = {
        k: [getattr(sm, k), getattr(dm, k)]
        for k in ("make", "model")
        if getattr(sm, k)
        and getattr(dm, k)
        and getattr(sm, k).strip().casefold() != getattr(dm, k).strip().casefold()
    }
    if not changed:
        return None
    return finding(
        dst.path,
        "camera-changed",
        "camera " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()),
        source=src.path,
        changed=changed,
    )


def _resolution_finding(src: FileRecord, dst: FileRecord) -> Finding | None:
    if not (src.pixels and dst.pixels and dst.pixels < src.pixels * RESOLUTION_SLACK):
        return None
    return finding(
        dst.path,
        "resolution-reduced",
        f"{src.width}x{src.height} reduced to {dst.width}x{dst.height}",
        source=src.path,
        source_size=[src.width, src.height],
        dest_size=[dst.width, dst.height],
        kept=round(dst.pixels / src.pixels, 4),
    )
