"""The command line end to end, as a user runs it: manifest -> verify -> report, exit codes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from conftest import UNSHIPPED_GPS as GPS
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
    from photoverify.dedupe.match.graph import DEFAULT_THRESHOLD

    @threshold_option
    def probe(threshold):
        return threshold

    assert probe.__click_params__[0].default == DEFAULT_THRESHOLD


# ---------------------------------------------------------------------------- hostile names


FORGE = "x\x1b[2J\x1b[HFAKE: all files OK\n\x9b31m\u202egpj.jpg"


def test_a_run_collects_cycles_every_10000_new_objects():
    """cli.main sets the collector's threshold for the run, not for the package (importing it
    leaves a host program's setting alone) nor for the workers it forks (they keep the default),
    and leaves what it had loaded (click, the commands) out of the collector's passes."""
    code = (
        "import atexit, gc, os, sys\n"
        "import photoverify.cli\n"
        "print(gc.get_threshold()[0])\n"
        "def at_exit():\n"
        "    print(gc.get_threshold()[0])\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        os.write(w, str(gc.get_threshold()[0]).encode())\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
        "    print(os.read(r, 16).decode())\n"
        "    print(gc.get_freeze_count())\n"
        "atexit.register(at_exit)\n"
        "sys.argv = ['photoverify', '--version']\n"
        "photoverify.cli.main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    imported, _version, ran, child, frozen = run.stdout.split("\n")[:5]
    assert ran == "10000" and imported != ran and child == imported, run.stdout + run.stderr
    assert int(frozen) > 10_000, run.stdout  # what was loaded before the run: never walked again


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
    assert "x␛[2J␛[HFAKE: all files OK␊<U+009B>31m<U+202E>gpj.jpg.jpg\n      does not decode" in (
        runs[0].stdout
    )
    assert runs[1].stdout.count("FAKE") == 3 and runs[1].stderr.count("FAKE") == 1
    assert runs[2].stdout.count("␛[2J") >= 2  # the two identical copies (table, caption)


def test_emoji_codes_in_names_reach_the_terminal_as_written(corpus, tmp_path):
    """rich turns `:smile:` into a face by default: a file name is shown as it is spelled, or
    the user cannot find the file the line names."""
    lib, db = tmp_path / "lib", str(tmp_path / "c.sqlite")
    lib.mkdir()
    for name in ("party :smile: :thumbs_up:.jpg", "party :smile: :thumbs_up: copy.jpg"):
        shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / name)
    (lib / ":fire:.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # named by scan's errors
    runs = [
        run_cli("scan", str(lib), "--catalog", db, "-q", check=(1,)),
        run_cli("dupes", str(lib), "--catalog", db, "-q"),
        run_cli("show", str(lib / ":fire:.jpg"), "--catalog", db, check=(0, 1)),
    ]
    assert ":fire:.jpg" in runs[0].stdout, runs[0].stdout
    assert runs[1].stdout.count(":smile: :thumbs_up:") >= 2, runs[1].stdout
    assert ":fire:.jpg" in runs[2].stdout + runs[2].stderr
    for proc in runs:
        for stream in (proc.stdout, proc.stderr):
            assert not any(c in stream for c in "\U0001f604\U0001f44d\U0001f525"), stream


# ---------------------------------------------------------------------------- terminal wording


def test_piped_scan_errors_keep_the_path_whole_and_say_the_reason_without_python_names(
    corpus, tmp_path
):
    """At 80 columns, piped: each broken file's path on its own line(s), broken only after a `/`,
    in path order, the reason indented below it, and no `OSError:` (Python's name for it means
    nothing to a reader)."""
    lib = tmp_path / "Family archive 2019" / "Camera Roll" / "2019" / "03"
    lib.mkdir(parents=True)
    data = (corpus / "exif-samples/jpg/Canon_40D.jpg").read_bytes()
    for name in ("IMG_1020 (2).JPG", "IMG_1000.JPG", "IMG_1010.JPG"):
        (lib / name).write_bytes(data[: len(data) // 2])
    proc = run_cli("scan", str(tmp_path), "--catalog", str(tmp_path / "c.sqlite"), "-q",
                   check=(1,), env={"COLUMNS": "80"})  # fmt: skip
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, proc.stdout
    at = next(i for i, line in enumerate(lines) if line.endswith("IMG_1020 (2).JPG"))
    assert lines[at + 1].startswith("      does not decode: "), proc.stdout
    assert "Error:" not in proc.stdout, proc.stdout
    named = [line.rsplit("/", 1)[-1] for line in lines if line.endswith(".JPG")]
    assert named == ["IMG_1000.JPG", "IMG_1010.JPG", "IMG_1020 (2).JPG"]  # in order, every run


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
    commands = [cli.get_command(ctx, name) for name in cli.list_commands(ctx)]
    assert len(commands) == 11 and None not in commands
    for cmd in [cli, *commands]:
        options = [p for p in cmd.get_params(ctx) if isinstance(p, click.Option)]
        for p in options:
            assert (p.help or "").strip(), f"{cmd.name} {'/'.join(p.opts)} has no help text"
        if cmd is not cli:
            names = {o for p in options for o in p.opts}
            assert {*COMMON, "-q"} <= names, f"{cmd.name} lacks {set(COMMON) - names}"


def test_quiet_is_taken_by_every_command_and_verify_runs_quiet(corpus, tmp_path):
    from photoverify.cli import COMMANDS

    for name in COMMANDS:
        shown = run_cli(name, "--help").stdout
        assert "-q, --quiet" in shown and "--json" in shown, (name, shown)
    lib = tmp_path / "lib"
    shutil.copytree(corpus / "exif-samples/jpg/orientation", lib)
    db, m = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "-o", m, "--catalog", db, "-q")
    proc = run_cli("verify", str(lib), "--manifest", m, "--catalog", db, "-q")
    assert proc.stderr == ""


@pytest.mark.full_corpus(GPS)
def test_piped_dupes_table_at_80_columns_keeps_names_whole_and_tells_copies_apart(corpus, tmp_path):
    """Piped at 80 columns: no line wider, no file name broken across lines; the relation's
    column is called so; the keeper's reason tells same-named copies apart by their folders."""
    album = tmp_path / "My Pictures" / "Family archive 2019 summer holidays in Portugal"
    name = "DSCN0010_with_a_rather_long_name_2019.jpg"
    for folder in ("backup copy from old laptop", "iPhone export"):
        (album / folder).mkdir(parents=True)
        shutil.copy(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", album / folder / name)
    db = str(tmp_path / "c.sqlite")
    proc = run_cli("dupes", str(tmp_path / "My Pictures"), "--catalog", db, "-q",
                   env={"COLUMNS": "80"})  # fmt: skip
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, proc.stdout
    assert sum(name in line for line in lines) >= 3  # both rows and the reason, each whole
    assert "relation" in proc.stdout and " tie " not in proc.stdout
    reason = " ".join(proc.stdout.split("└")[1].split("\n", 1)[1].split())
    assert reason.startswith(f"backup copy from old laptop/{name} kept over iPhone export/{name}")


@pytest.mark.full_corpus(GPS)
def test_decode_cache_is_kept_beside_the_catalog_one_place_for_state(corpus, tmp_path):
    """--catalog (or $PHOTOVERIFY_CATALOG) chooses where all of photoverify's state goes:
    verify --decode caches beside the catalog, nothing in the user cache directory."""
    lib, state = tmp_path / "lib", tmp_path / "state"
    shutil.copytree(corpus / "exif-samples/jpg/gps", lib)
    manifest = str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "-o", manifest, "--no-catalog")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PHOTOVERIFY_CATALOG": str(state / "c.db")}
    run_cli("verify", str(lib), "--manifest", manifest, "--decode", "-q", env=env)
    assert sorted(p.name for p in state.iterdir() if p.suffix in (".db", ".sqlite")) == [
        "c.db",
        "decode-cache.sqlite",
    ]
    assert not (tmp_path / "cache" / "photoverify").exists()
    doctor = json.loads(run_cli("doctor", "--json", env=env, check=(0, 3)).stdout)
    assert doctor["decode_cache"] == str(state / "decode-cache.sqlite")


def _on_a_terminal(*args: str, columns: int = 120) -> str:
    """What `photoverify ARGS` shows on a real pseudo-terminal (stdout and stderr both)."""
    import fcntl
    import os
    import pty
    import struct
    import sys
    import termios

    from conftest import REPO

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "photoverify", *args], stdin=slave,
                            stdout=slave, stderr=slave, cwd=REPO, env=env)  # fmt: skip
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=600)
    os.close(master)
    return out.decode("utf-8", "replace")


@pytest.mark.full_corpus(GPS)
def test_progress_on_a_terminal_only_with_counts_bytes_rates(corpus, tmp_path):
    """scan and apply draw a bar (files done of all, bytes, files/s, B/s) on a terminal; piped,
    scan and verify write nothing at all to standard error (no stray blank line); --json on a
    terminal is JSON alone."""
    lib, db = tmp_path / "lib", str(tmp_path / "c.sqlite")
    shutil.copytree(corpus / "exif-samples/jpg/gps", lib)
    shown = _on_a_terminal("scan", str(lib), "--catalog", db)
    assert "scan" in shown and "files/s" in shown and "B/s" in shown and "/10" in shown
    plan = str(tmp_path / "plan.json")
    run_cli("plan", "--dest", str(tmp_path / "new"), "-o", plan, "--catalog", db)
    shown = _on_a_terminal("apply", plan)
    assert "apply" in shown and "files/s" in shown and "copied 9" in shown

    other = str(tmp_path / "other.sqlite")
    piped = run_cli("scan", str(lib), "--catalog", other)
    assert piped.stderr == ""
    manifest = str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "-o", manifest, "--no-catalog")
    piped = run_cli("verify", str(lib), "--manifest", manifest, "--decode", "--catalog", other)
    assert piped.stderr == ""
    assert "Nothing lost" in piped.stdout.splitlines()[-1]  # the last line: the verdict

    third = str(tmp_path / "third.sqlite")
    shown = _on_a_terminal("scan", str(lib), "--catalog", third, "--json")
    assert json.loads(shown)["files"] == 10


@pytest.mark.full_corpus(GPS)
def test_verify_decode_and_audit_matching_bars_show_bytes_on_a_terminal_only(corpus, tmp_path):
    """verify --decode's bar counts bytes as well as files; the audit draws a bar for its
    matching too (files, bytes, rates); piped, the audit writes nothing to standard error."""
    lib, dst = tmp_path / "lib", tmp_path / "dst"
    shutil.copytree(corpus / "exif-samples/jpg/gps", lib)
    shutil.copytree(lib, dst)
    manifest = str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "-o", manifest, "--no-catalog")
    shown = _on_a_terminal("verify", str(lib), "--manifest", manifest, "--decode",
                           "--catalog", str(tmp_path / "v.sqlite"))  # fmt: skip
    done = re.compile(r"\b(\d+)/\1\b")  # the bar at its end: all files done
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # rich's colours
    decode = [line for line in shown.split("\r") if "decode " in line and done.search(line)]
    assert decode and "B/s" in decode[-1] and "MB/" in decode[-1], shown
    args = ("audit", str(lib), "--against", str(dst), "--catalog", str(tmp_path / "a.sqlite"))
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _on_a_terminal(*args))
    match = [line for line in shown.split("\r") if "match " in line and done.search(line)]
    assert match and "files/s" in match[-1] and "B/s" in match[-1], shown
    assert run_cli(*args).stderr == ""


@pytest.mark.full_corpus(GPS)
def test_piped_related_files_are_listed_one_a_line_relative_to_their_folder(corpus, tmp_path):
    """A related pair (a black-and-white export of a camera photo) under the dupes table: each
    file on its own line relative to the folder they share, the kind and why above them; at 80
    columns nothing is wider and no name with spaces is broken."""
    from PIL import Image, ImageOps

    lib = tmp_path / "library"
    (lib / "Camera Roll/2019/03").mkdir(parents=True)
    (lib / "Exports/Black & White").mkdir(parents=True)
    original = lib / "Camera Roll/2019/03/DSCN0010.jpg"
    shutil.copy(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", original)
    with Image.open(original) as im:
        grey = lib / "Exports/Black & White/DSCN0010 black and white.jpg"
        ImageOps.grayscale(im).save(grey, exif=im.info.get("exif", b""))
    proc = run_cli("dupes", str(lib), "--catalog", str(tmp_path / "c.sqlite"), "-q",
                   env={"COLUMNS": "80"})  # fmt: skip
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, proc.stdout
    at = lines.index("    Camera Roll/2019/03/DSCN0010.jpg")
    assert lines[at - 1].startswith("  derived ("), proc.stdout
    assert lines[at + 1] == "  ~ Exports/Black & White/DSCN0010 black and white.jpg", proc.stdout


@pytest.mark.full_corpus(GPS)
def test_piped_keeper_reason_names_each_copy_whole_from_where_the_copies_part(corpus, tmp_path):
    """The reason under a dupes table names the copies as the table does (from the first folder
    they do not share, not `03/IMG_1000.JPG`), one `over` clause a line, and at 80 columns never
    breaks a name with spaces in it across lines."""
    lib = tmp_path / "library"
    rows = [
        "Camera Roll/2019/03/IMG 1000 holiday.jpg",
        "iCloud Photos Part 1 of 2/IMG 1000 holiday.jpg",
        "Camera Roll/2019/03/IMG 1000 holiday (1).jpg",
    ]
    for row in rows:
        (lib / row).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", lib / row)
    proc = run_cli("dupes", str(lib), "--catalog", str(tmp_path / "c.sqlite"), "-q",
                   env={"COLUMNS": "80"})  # fmt: skip
    reason = proc.stdout.split("┘\n")[1].splitlines()
    assert reason[0] == f"{rows[0]} kept", proc.stdout
    assert all(len(line) <= 80 for line in reason), proc.stdout
    assert any(line.startswith(f"  over {rows[1]}") for line in reason), proc.stdout
    assert any(line.startswith(f"  over {rows[2]}:") for line in reason), proc.stdout
