"""What counts as a duplicate: the relation between two pictures (or two videos), judged from
their records alone. Pure.

Relations (edges carry `kind` and `evidence`):
  identical   same BLAKE3 (empty files excluded; found by grouping, not here)
  same-photo  one capture in another encoding, size or metadata state: perceptual hashes within
              the threshold and nothing contradicts it (capture time to the second, sub-seconds,
              aspect ratio, Apple ContentIdentifier / ImageUniqueID: equal ids are strong
              evidence, different ids a veto)
  derived     an edit of a photo: an edit name (IMG_E1234, _edited, -adjusted) beside the
              original, or the same capture instant with a different picture (a crop)
  similar     a different capture that looks alike (burst frames, the next shot)
  companion   parts of one asset (see dedupe.companions)
"""

from __future__ import annotations

from dataclasses import dataclass

from photoverify.dedupe.catalog.signature import (
    EDIT_SIGNALS,
    SMALL_SIDE,
    STRETCH_RESIDUAL,
    compare,
    crop_of,
    picture_edit,
    unpack,
)
from photoverify.dedupe.core.records import FileRecord, Relation
from photoverify.dedupe.core.timeparse import parse, same_second, subsec_equal
from photoverify.dedupe.match.candidates import name_parts
from photoverify.dedupe.match.policy import rank_key

DEFAULT_THRESHOLD = 10  # pHash bits; measured on the generated library (RESULTS.md)
DHASH_SLACK = 6  # dHash may stand this much further apart than the pHash threshold


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _aspect_agrees(a: FileRecord, b: FileRecord) -> bool | None:
    if not (a.width and a.height and b.width and b.height):
        return None
    ra, rb = a.width / a.height, b.width / b.height
    # a few pixels of rounding in a downscale; small images round more
    tolerance = 0.01 + 2 / min(a.width, a.height, b.width, b.height)
    return abs(ra - rb) / max(ra, rb) <= tolerance


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the metadata of two pictures says about them (see `_facts`)."""

    time_same: bool | None  # the same capture instant (None: a time is missing)
    subsecs: bool  # both capture times carry sub-seconds
    ids_equal: bool  # a camera id (ContentIdentifier, ImageUniqueID) equal on both
    ids_differ: bool  # ... or different
    aspect: bool | None  # the same aspect ratio (None: a size is unknown)


def _facts(a: FileRecord, b: FileRecord, ev: dict) -> _Facts:
    """The metadata's facts about two pictures; their words added to the evidence `ev`."""
    ma, mb = a.metadata, b.metadata
    ta, tb = parse(ma.captured_at), parse(mb.captured_at)
    ids_equal = ids_differ = False
    for name in ("content_id", "image_unique_id"):
        va, vb = getattr(ma, name), getattr(mb, name)
        if va and vb:
            if va == vb:
                ids_equal = True
                ev[name] = "equal"
            else:
                ids_differ = True
                ev[name] = "different"
    time_same = None
    if ta and tb:
        time_same = same_second(ta, tb) and subsec_equal(ta, tb) is not False
        ev["capture_time"] = "equal" if time_same else f"{ma.captured_at} vs {mb.captured_at}"
    else:
        ev["capture_time"] = "missing on one side" if (ta or tb) else "missing"
    aspect = _aspect_agrees(a, b)
    ev["aspect_ratio"] = {True: "equal", False: "different", None: "unknown"}[aspect]
    subsecs = bool(ta and tb and ta.subsec is not None and tb.subsec is not None)
    return _Facts(time_same, subsecs, ids_equal, ids_differ, aspect)


def judge(a: FileRecord, b: FileRecord, threshold: int) -> Relation | None:
    """The relation between two images, or None. Pure: the heart of what counts as a duplicate."""
    if _is_flat(a) and _is_flat(b):
        return _judge_flat(a, b)
    if not (a.phash and b.phash and a.dhash and b.dhash):
        return None
    pd, dd = _bits(a.phash, b.phash), _bits(a.dhash, b.dhash)
    ev: dict = {"phash_distance": pd, "dhash_distance": dd}
    f = _facts(a, b, ev)
    named = _edit_named(a, b, ev, f.time_same)
    if named is not None:
        return named
    near = pd <= threshold and dd <= threshold + DHASH_SLACK
    same_capture = f.time_same is True and (f.subsecs or f.ids_equal)
    contradicted = f.ids_differ or f.time_same is False
    if not near and not contradicted and not _small(a, b):
        turned = _turned(a, b, ev) or _cropped(a, b, ev)
        if turned is not None:
            return turned
    if contradicted:
        if near:
            why = "different capture time" if f.time_same is False else "different camera ids"
            burst = a.metadata.burst_id and a.metadata.burst_id == b.metadata.burst_id
            by = "hashes, capture time" if f.time_same is False else "hashes, camera ids"
            ev = {**ev, "why": "burst frame" if burst else why, "decided_by": by}
            return Relation(a.path, b.path, "similar", ev)
        return None
    if f.aspect is False:
        return _judge_framing(a, b, ev, near, same_capture or f.ids_equal)
    if f.ids_equal and (near or pd <= 2 * threshold):
        # equal ids prove one capture, not one picture: an edit exported from Photos keeps them
        return _confirm(a, b, ev, True, "camera ids")
    if near:
        return _confirm(a, b, ev, same_capture, "hashes")
    if same_capture:
        return _derived(a, b, ev, "same capture, other picture", None)
    return None


def _edit_named(a: FileRecord, b: FileRecord, ev: dict, time_same: bool | None) -> Relation | None:
    """One file named as an edit of the other (IMG_E1234 beside IMG_1234) whose capture time
    does not say otherwise: derived, the named one the edit."""
    (_, base_a, stem_a), (_, base_b, stem_b) = name_parts(a.path), name_parts(b.path)
    edited, stems = (base_a, base_b), (stem_a, stem_b)
    if not (edited[0] == stems[1] or edited[1] == stems[0]) or time_same is False:
        return None
    original, edit = (b, a) if edited[0] == stems[1] else (a, b)
    by = "file name" if time_same is None else "file name and capture time"
    return Relation(
        original.path, edit.path, "derived", {**ev, "why": "edit name", "decided_by": by}
    )


def _judge_framing(
    a: FileRecord, b: FileRecord, ev: dict, near: bool, one_capture: bool
) -> Relation | None:
    """Two pictures of other proportions, nothing in the metadata against them: one capture
    (`one_capture`: the same instant or equal ids) framed otherwise is derived, and so is a
    stretched look-alike; another look-alike is similar."""
    if not (near or one_capture):
        return None  # what the pixels would say decides nothing here
    framing, pixels = _framing(a, b)
    if pixels:
        ev = {**ev, "pixels": pixels}
    if one_capture:
        return _derived(a, b, ev, "same capture, other framing", framing, "aspect ratio and pixels")
    if framing == "aspect changed":
        by = "hashes, aspect ratio, then pixels (residual)"
        ev = {**ev, "why": framing, "edit": framing, "decided_by": by}
        return Relation(*_orient(a, b), "derived", ev)
    ev = {**ev, "why": "other framing", "decided_by": "hashes and aspect ratio"}
    return Relation(a.path, b.path, "similar", ev)


def _small(a: FileRecord, b: FileRecord) -> bool:
    sides = [min(r.width, r.height) for r in (a, b) if r.width and r.height]
    return len(sides) < 2 or min(sides) < SMALL_SIDE


def _confirm(a: FileRecord, b: FileRecord, ev: dict, same_capture: bool, proof: str) -> Relation:
    """Near hashes (or equal camera ids: `proof`), nothing in the metadata against it: the
    pixels decide between the same photo, an edit of it (named) and a different photo that
    looks alike. Without both signatures the proof stands alone."""
    original, edit = (a, b) if rank_key(a) <= rank_key(b) else (b, a)
    sa, sb = unpack(original.signature), unpack(edit.signature)
    if sa is None or sb is None:
        return Relation(a.path, b.path, "same-photo", {**ev, "decided_by": f"{proof} (no pixels)"})
    c = compare(sa, sb)
    name = picture_edit(c, small=_small(a, b))
    if name == "colour added":  # the colourless one is the edit, whatever the ranking says
        original, edit, sa, sb = edit, original, sb, sa
        c = compare(sa, sb)
        name = "colour removed"
    ev = {**ev, "pixels": c.to_json()}
    if name is None:
        return Relation(a.path, b.path, "same-photo", {**ev, "decided_by": f"{proof} and pixels"})
    if name == "other picture":
        if same_capture:
            return _derived(a, b, ev, "same capture, other picture", None, "pixels (residual)")
        ev = {**ev, "why": "pixels differ", "decided_by": f"{proof}, then pixels (residual)"}
        return Relation(a.path, b.path, "similar", ev)
    by = f"{proof}, then pixels ({EDIT_SIGNALS[name]})"
    ev = {**ev, "why": name, "edit": name, "decided_by": by}
    return Relation(original.path, edit.path, "derived", ev)


def _derived(
    a: FileRecord, b: FileRecord, ev: dict, why: str, edit: str | None, pixels: str = ""
) -> Relation:
    original, derived = _orient(a, b)
    by = "capture time and ids" + (f", {pixels}" if pixels else "")
    out = {**ev, "why": why, "decided_by": by}
    if edit:
        out["edit"] = edit
    return Relation(original, derived, "derived", out)


def _framing(a: FileRecord, b: FileRecord) -> tuple[str | None, dict | None]:
    """A picture of other proportions: 'aspect changed' when squashed to a square it is the
    same picture (a stretch), else 'cropped'; and the pixel evidence."""
    sa, sb = unpack(a.signature), unpack(b.signature)
    if sa is None or sb is None:
        return None, None
    c = compare(sa, sb)
    return ("aspect changed" if c.residual <= STRETCH_RESIDUAL else "cropped"), c.to_json()


def _turned(a: FileRecord, b: FileRecord, ev: dict) -> Relation | None:
    """b as a turned or mirrored a (and otherwise the same picture), as a derived relation.
    For pictures of SMALL_SIDE and more (as `_cropped`): `judge` asks only about those."""
    original, edit = (a, b) if rank_key(a) <= rank_key(b) else (b, a)
    sa, sb = unpack(original.signature), unpack(edit.signature)
    if sa is None or sb is None:
        return None
    c = compare(sa, sb, turns=True)
    if c.transform == "identity" or picture_edit(c) is not None:
        return None
    if a.width and a.height and b.width and b.height:
        quarter = c.transform in ("rotated 90°", "rotated 270°")
        shown_a = (a.height, a.width) if quarter else (a.width, a.height)
        swapped = FileRecord(a.path, a.root, 0, 0, 0, 0, width=shown_a[0], height=shown_a[1])
        if _aspect_agrees(swapped, b) is False and not _is_transpose_mirror(c.transform, a, b):
            return None
    ev = {**ev, "pixels": c.to_json(), "why": c.transform, "edit": c.transform}
    ev["decided_by"] = "pixels (turned or mirrored)"
    return Relation(original.path, edit.path, "derived", ev)


def _cropped(a: FileRecord, b: FileRecord, ev: dict) -> Relation | None:
    """One picture as a centred crop of the other (and otherwise the same), as derived."""
    sa, sb = unpack(a.signature), unpack(b.signature)
    if sa is None or sb is None:
        return None
    for (original, so), (edit, se) in (((a, sa), (b, sb)), ((b, sb), (a, sa))):
        found = crop_of(so, se)
        if found is not None:
            scale, residual, gain, offset = found
            crop = {"crop_scale": scale, "residual": round(residual, 2), "gain": round(gain, 3)}
            pixels = {**compare(so, se).to_json(), **crop, "offset": round(offset, 2)}
            ev = {**ev, "pixels": pixels}
            ev.update(why="cropped", edit="cropped", decided_by="pixels (centred crop)")
            return Relation(original.path, edit.path, "derived", ev)
    return None


def _is_transpose_mirror(name: str, a: FileRecord, b: FileRecord) -> bool:
    # a mirror across a diagonal also swaps width and height
    return (
        name == "mirrored"
        and _aspect_agrees(
            FileRecord(a.path, a.root, 0, 0, 0, 0, width=a.height, height=a.width), b
        )
        is not False
    )


VIDEO_DURATION_SLACK = 0.5  # seconds, or 2% of the longer video, whichever is more


def durations_agree(a: FileRecord, b: FileRecord) -> bool | None:
    if not (a.duration and b.duration):
        return None
    return abs(a.duration - b.duration) <= max(
        VIDEO_DURATION_SLACK, 0.02 * max(a.duration, b.duration)
    )


def judge_video(a: FileRecord, b: FileRecord, threshold: int) -> Relation | None:
    """The relation between two videos, or None. Pure. A re-encoded video starts on the same
    picture and lasts as long: first frames judged as photos are (`judge`: capture times and
    camera ids still decide between the same recording and a similar one), and durations that
    agree. Without both durations it is never the same recording."""
    if a.kind != "video" or b.kind != "video":
        return None
    agree = durations_agree(a, b)
    if agree is False:
        return None
    rel = judge(a, b, threshold)
    if rel is None:
        return None
    ev = {**rel.evidence, "compared": "first frames", "duration": _seconds(a, b)}
    kind = rel.kind if agree or rel.kind != "same-photo" else "similar"
    if kind != rel.kind:
        ev["decided_by"] = f"{ev.get('decided_by')}; durations unknown"
    elif agree:
        ev["decided_by"] = f"{ev.get('decided_by')} and durations"
    return Relation(rel.a, rel.b, kind, ev)


def _seconds(a: FileRecord, b: FileRecord) -> str:
    def show(d: float | None) -> str:
        return "unknown" if d is None else f"{d:.2f} s"

    return f"{show(a.duration)} vs {show(b.duration)}"


def _is_flat(r: FileRecord) -> bool:
    """Decoded, with no detail to hash (a blank frame): looks cannot tell such pictures apart."""
    return bool(r.decode_ok) and r.kind == "image" and not r.phash


def _judge_flat(a: FileRecord, b: FileRecord) -> Relation | None:
    """Two flat pictures are one photo only on metadata proof: an equal camera id, or the same
    capture instant to the sub-second, and the same aspect ratio."""
    ma, mb = a.metadata, b.metadata
    ev: dict = {"phash_distance": None, "flat": True}
    for name in ("content_id", "image_unique_id"):
        va, vb = getattr(ma, name), getattr(mb, name)
        if va and vb and va != vb:
            return None
        if va and va == vb:
            ev[name] = "equal"
    ta, tb = parse(ma.captured_at), parse(mb.captured_at)
    same_instant = bool(ta and tb and same_second(ta, tb) and subsec_equal(ta, tb))
    if ta and tb and not same_second(ta, tb):
        return None
    if same_instant:
        ev["capture_time"] = "equal to the sub-second"
    if _aspect_agrees(a, b) is False or not (
        same_instant or "content_id" in ev or "image_unique_id" in ev
    ):
        return None
    proof = [k for k in ("content_id", "image_unique_id") if k in ev]
    proof += ["capture time to the sub-second"] if same_instant else []
    ev["decided_by"] = " and ".join(proof) + " (flat picture: no hashes)"
    return Relation(a.path, b.path, "same-photo", ev)


def _orient(a: FileRecord, b: FileRecord) -> tuple[str, str]:
    """(original, derived): the better-ranked copy is taken as the original."""
    return (a.path, b.path) if rank_key(a) <= rank_key(b) else (b.path, a.path)
