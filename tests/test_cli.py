"""The command line end to end, as a user runs it: manifest -> verify -> report, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import run_cli, run_json

GPS_PHOTO = "gps/gps-position/thompson-springs.jpg"  # a real photo with GPS and a capture time


def test_manifest_verify_report_round_trip(corpus, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(corpus / "immich-test-assets/metadata", lib / "gps")  # photos, XMP sidecars
    shutil.copy(corpus / "exif-samples/heic/IMG_5195.HEIC", lib / "IMG_5195.HEIC")
    n_files = sum(1 for p in lib.rglob("*") if p.is_file())
    db = str(tmp_path / "c.sqlite")
    out = run_json(
        "manifest", str(lib), "--format", "json", "-o", str(tmp_path / "m.json"), "--catalog", db
    )
    assert out["files"] == n_files
    clean = run_json("verify", str(lib), "--manifest", str(tmp_path / "m.json"), "--catalog", db)
    assert clean["ok"] is True and clean["counts"]["matched"] == n_files

    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-gps:all=", str(lib / GPS_PHOTO)],
        check=True,
    )
    (lib / "IMG_5195.HEIC").unlink()
    proc = run_cli(
        "verify",
        str(lib),
        "--manifest",
        str(tmp_path / "m.json"),
        "--catalog",
        db,
        "--json",
        "--report",
        str(tmp_path / "r.html"),
        check=False,
    )
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    outcomes = sorted(
        (f["path"], f["outcome"]) for f in data["findings"] if f["severity"] == "error"
    )
    assert outcomes == [
        ("IMG_5195.HEIC", "missing"),
        (GPS_PHOTO, "changed"),
        (GPS_PHOTO, "gps-lost"),
    ]
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "thompson-springs.jpg" in html and "gps-lost" in html


def test_b3sum_manifest_is_accepted_by_b3sum(corpus, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(corpus / "exif-samples/jpg/orientation", lib)
    db = str(tmp_path / "c.sqlite")
    run_cli("scan", str(lib), "--catalog", db, "--quiet")
    run_cli("manifest", str(lib), "-o", str(tmp_path / "m.b3"), "--catalog", db)
    check = subprocess.run(
        ["b3sum", "--check", str(tmp_path / "m.b3")], cwd=lib, capture_output=True, text=True
    )
    n_files = sum(1 for p in lib.iterdir() if p.is_file())  # the photos and a README (full corpus)
    assert check.returncode == 0 and check.stdout.count(": OK") == n_files > 0


def test_unknown_catalog_dir_and_bad_manifest_give_one_line_errors(tmp_path):
    (tmp_path / "bad.b3").write_text("not a manifest line\n")
    (tmp_path / "root").mkdir()
    proc = run_cli(
        "verify",
        str(tmp_path / "root"),
        "--manifest",
        str(tmp_path / "bad.b3"),
        "--catalog",
        str(tmp_path / "c.sqlite"),
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.b3" in lines[0]


def test_cli_threshold_default_is_the_graph_default():
    from photoverify.cli import threshold_option
    from photoverify.dedupe.graph import DEFAULT_THRESHOLD

    @threshold_option
    def probe(threshold):
        return threshold

    assert probe.__click_params__[0].default == DEFAULT_THRESHOLD


# ---------------------------------------------------------------------------- hostile names


FORGE = "x\x1b[2J\x1b[HFAKE: all files OK\n\x9b31m\u202egpj.jpg"


def test_names_reach_the_terminal_escaped_in_every_text_output(corpus, tmp_path):
    """A file named to clear the screen and print a verdict of its own: scan, show, dupes and
    their stderr lines show it escaped (␛, ␊), on one line, never the raw sequence."""
    import os

    lib, db = tmp_path / "lib", str(tmp_path / "c.sqlite")
    lib.mkdir()
    (lib / f"{FORGE}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # an error: scan names it
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / f"{FORGE}a.jpg")
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / f"{FORGE}b.jpg")
    not_there = os.fspath(lib / f"{FORGE}c.jpg")
    runs = [
        run_cli("scan", str(lib), "--catalog", db, "-q", check=(1,)),
        run_cli("show", str(lib), not_there, "--catalog", db, check=(1,)),
        run_cli("dupes", str(lib), "--catalog", db, "-q"),
    ]
    for proc in runs:
        for stream in (proc.stdout, proc.stderr):
            assert not any(c in stream for c in "\x1b\x9b\u202e"), stream
            assert "FAKE: all files OK␊" in stream or "FAKE" not in stream, stream
    assert "x␛[2J␛[HFAKE: all files OK␊<U+009B>31m<U+202E>gpj.jpg.jpg: does not decode" in (
        runs[0].stdout
    )
    assert runs[1].stdout.count("FAKE") == 3 and runs[1].stderr.count("FAKE") == 1
    assert runs[2].stdout.count("␛[2J") >= 2  # the two identical copies (table, caption)


# ---------------------------------------------------------------------------- terminal wording


def test_apply_speaks_words_the_same_for_dry_run_run_and_re_run(corpus, tmp_path):
    """No Python values (None, True) on the terminal; the dry run says what would happen in the
    words the run uses for what happened; a re-run that writes nothing says "already in place"."""
    lib = tmp_path / "lib"
    shutil.copytree(corpus / "exif-samples/jpg", lib)
    (lib / "notes.txt").write_text("not a photo: the plan skips it\n")
    db, plan = str(tmp_path / "c.sqlite"), str(tmp_path / "plan.json")
    run_cli("plan", str(lib), "--dest", str(tmp_path / "new"), "-o", plan, "--catalog", db, "-q")
    dry = run_cli("apply", plan, "--dry-run").stdout
    first = run_cli("apply", plan).stdout
    again = run_cli("apply", plan).stdout
    for out in (dry, first, again):
        assert not any(word in out.split() for word in ("None", "True", "False")), out
    counts = run_json("apply", plan, "--dry-run")["fates"]
    n_copy, n_skip = counts["would-copy"], counts["skip"]
    assert f"would copy {n_copy}" in dry and f"would skip {n_skip}" in dry, dry
    assert f"copied {n_copy}" in first and f"skipped {n_skip}" in first, first
    assert f"already in place {n_copy}" in again and "copied" not in again, again
    assert "wrote nothing" in again, again


# ---------------------------------------------------------------------------- common options

COMMON = ("--quiet", "--json")  # the README: --quiet hides progress, --json for programs


def test_every_command_takes_the_common_options_and_every_option_has_help():
    import click

    from photoverify.cli import cli

    ctx = click.Context(cli, info_name="photoverify")
    assert cli.commands
    for cmd in [cli, *cli.commands.values()]:
        options = [p for p in cmd.get_params(ctx) if isinstance(p, click.Option)]
        for p in options:
            assert (p.help or "").strip(), f"{cmd.name} {'/'.join(p.opts)} has no help text"
        if cmd is not cli:
            names = {o for p in options for o in p.opts}
            assert {*COMMON, "-q"} <= names, f"{cmd.name} lacks {set(COMMON) - names}"


def test_quiet_is_taken_by_every_command_and_verify_runs_quiet(corpus, tmp_path):
    from photoverify.cli import cli

    for name in cli.commands:
        shown = run_cli(name, "--help").stdout
        assert "-q, --quiet" in shown and "--json" in shown, (name, shown)
    lib = tmp_path / "lib"
    shutil.copytree(corpus / "exif-samples/jpg/orientation", lib)
    db, m = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "-o", m, "--catalog", db, "-q")
    proc = run_cli("verify", str(lib), "--manifest", m, "--catalog", db, "-q")
    assert proc.stderr == ""
