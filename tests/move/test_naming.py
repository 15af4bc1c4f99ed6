"""Target names: sanitizing for every filesystem, collision numbering, templates."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.move.naming import (
    MAX_BYTES,
    RESERVED_CHARS,
    RESERVED_NAMES,
    companion_name,
    companion_suffix,
    name_key,
    render_target,
    sanitize_component,
    split_ext,
    unique_number,
    unique_path,
)

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=()) | st.sampled_from('<>:"/\\|?*. '),
    max_size=300,
)
exts = st.sampled_from(["", ".jpg", ".HEIC", ".mov", ".xmp", ".tar.gz", ".JPEG"])


def _valid(name: str) -> bool:
    return (
        name not in ("", ".", "..")
        and not (set(name) & RESERVED_CHARS)
        and all(ord(c) >= 32 and ord(c) != 127 for c in name)
        and not name.endswith((".", " "))
        and name.split(".", 1)[0].rstrip(" ").upper() not in RESERVED_NAMES
        and len(name.encode("utf-8")) <= MAX_BYTES
        and unicodedata.is_normalized("NFC", name)
    )


@settings(max_examples=400)
@given(names, exts)
def test_sanitized_names_are_valid_idempotent_and_keep_short_extensions(stem, ext):
    clean = sanitize_component(stem + ext)
    assert _valid(clean), clean
    assert sanitize_component(clean) == clean
    if ext and ext == ext.strip() and stem.strip(" .") and split_ext(stem + ext)[1] == ext:
        assert clean.endswith(ext)


def test_sanitized_names_are_accepted_by_the_filesystem(tmp_path):
    raw = ["CON.txt", "a<b>c.jpg", "trailing. . ", "x" * 400 + ".HEIC", "é" * 200 + ".jpg", "nul"]
    for r in raw:
        clean = sanitize_component(r)
        (tmp_path / clean).write_bytes(b"x")
        assert (tmp_path / clean).read_bytes() == b"x"
    assert sanitize_component("CON.txt") == "_CON.txt"
    assert sanitize_component("x" * 400 + ".HEIC").endswith(".HEIC")
    assert len(os.listdir(tmp_path)) == len(raw)


def test_undecodable_bytes_become_replacement_characters():
    raw = os.fsdecode(b"IMG_\xff\xfe.jpg")
    assert sanitize_component(raw) == "IMG___.jpg"


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["IMG_0001.HEIC", "img_0001.heic", "IMG_0001.heic", "Café.jpg",
                                 "Cafe\u0301.jpg", "x" * 254 + ".jpg"]), max_size=30))  # fmt: skip
def test_unique_paths_never_collide_case_insensitively(wanted):
    taken: set[str] = set()
    got = []
    for name in wanted:
        p = unique_path("2021/04", sanitize_component(name), taken)
        assert name_key(p) not in taken
        taken.add(name_key(p))
        got.append(p)
        assert _valid(p.rsplit("/", 1)[1])
    assert len({name_key(p) for p in got}) == len(got)


@settings(max_examples=200)
@given(st.sets(st.integers(1, 40), max_size=30), st.integers(0, 40), st.booleans())
def test_a_search_started_below_the_answer_finds_the_same_name(taken_numbers, start, companion):
    """unique_number from any start at or below the first free number answers as from 1."""
    name, suffixes = "IMG_0001.HEIC", ((".MOV",) if companion else ())
    taken = {name_key(unique_path("a", name, set(), start=n)) for n in taken_numbers}
    first = unique_number("a", name, taken, suffixes)
    assert unique_number("a", name, taken, suffixes, min(start, first)) == first
    assert unique_path("a", name, taken, suffixes, start=min(start, first)) == unique_path(
        "a", name, taken, suffixes
    )


def test_collisions_are_numbered_before_the_extension():
    taken = {name_key("2021/04/IMG_0001.HEIC")}
    assert unique_path("2021/04", "img_0001.heic", taken) == "2021/04/img_0001 (2).heic"
    taken.add(name_key("2021/04/img_0001 (2).heic"))
    assert unique_path("2021/04", "IMG_0001.HEIC", taken) == "2021/04/IMG_0001 (3).HEIC"


def test_companion_names_must_be_free_too():
    taken = {name_key("a/IMG_1.MOV")}
    assert unique_path("a", "IMG_1.HEIC", taken, (".MOV",)) == "a/IMG_1 (2).HEIC"


def test_companion_suffix_keeps_every_extension_after_the_primary_stem():
    assert companion_suffix("IMG_1.HEIC", "IMG_1.MOV") == ".MOV"
    assert companion_suffix("IMG_1.HEIC", "IMG_1.HEIC.xmp") == ".HEIC.xmp"
    assert companion_suffix("IMG_1.HEIC", "img_1.aae") == ".aae"
    assert companion_suffix("IMG_0001.HEIC", "IMG_O0001.AAE") == ".AAE"


@settings(max_examples=300)
@given(st.builds(lambda stem, ext: stem + ext, st.text(st.characters(exclude_categories=()),
                                                       max_size=30),
                 st.sampled_from(["", ".jpg", ".jp\udce9g", ".\udcff", ".HEIC\udce9", ".a/b",
                                  ".<>", ".\x00"])),
       st.sampled_from(["{year}/{month}/{name}", "{year}/{stem}.{ext}", "{stem}", "{model}"]),
       st.sampled_from([None, "2021-04-11T23:47:53"]))  # fmt: skip
def test_any_source_name_renders_a_valid_target(name, template, captured):
    """Whatever a source's name holds (undecodable bytes as surrogates, in its extension too:
    `x.jp\udce9g`, reserved characters, controls), its target is valid UTF-8 names."""
    folder, target = render_target(template, name, captured)
    assert _valid(target), target
    assert all(_valid(part) for part in folder.split("/") if folder), folder
    (folder + "/" + target).encode("utf-8")  # no surrogate left


@given(st.sampled_from(["IMG_1.HEIC", "IMG_\udce9.HEIC", "x"]),
       st.sampled_from(["IMG_1.MO\udce9", "IMG_1.HEIC.x\udce9mp", "IMG_\udce9.MOV", "a.<b>",
                        "IMG_1.AAE"]),
       st.sampled_from(["IMG_1", "IMG_1 (2)", "x" * 250]))  # fmt: skip
def test_companion_names_are_valid_whatever_the_companion_is_called(primary, companion, stem):
    """A Live Photo video or a sidecar with an undecodable byte in its ending still gets a valid
    name beside its primary's target (it crashed plan before)."""
    name = companion_name(stem, companion_suffix(primary, companion))
    assert _valid(name), name
    name.encode("utf-8")


def test_templates():
    assert render_target(
        "{year}/{month}/{name}", "IMG_1.HEIC", "2021-04-11T23:47:53.054-05:00"
    ) == (
        "2021/04",
        "IMG_1.HEIC",
    )  # the camera's wall-clock date, not UTC (which would be 2021-04-12)
    assert render_target("{year}/{month}/{name}", "a.jpg", None) == ("undated", "a.jpg")
    assert render_target("{make}/{model}/{year}{month}{day}_{stem}.{ext}", "a.jpg",
                         "2008-05-30T15:56:01", "Canon", "EOS 40D/x") == (
        "Canon/EOS 40D_x", "20080530_a.jpg")  # fmt: skip
    # a template without the extension still yields a file with it
    assert render_target("{year}/{stem}", "a.jpg", "2008-05-30T15:56:01")[1] == "a.jpg"
    assert render_target("{year}/{model}/{name}", "a.jpg", "2008-05-30") == (
        "2008/unknown",
        "a.jpg",
    )
    with pytest.raises(UsageError, match="unknown field"):
        render_target("{yaer}/{name}", "a.jpg", None)
    with pytest.raises(UsageError, match="relative"):
        render_target("/abs/{name}", "a.jpg", None)
