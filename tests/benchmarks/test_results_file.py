"""RESULTS.md keeps what was written by hand when a benchmark runs again (benchmarks.__main__)."""

from __future__ import annotations

import benchmarks.__main__ as bench_main


def test_a_rerun_replaces_its_own_text_and_keeps_the_readings_around_it(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(bench_main, "RESULTS", results)
    old = "## Fixity\n\n| a | 1 |\n"
    results.write_text(
        "# benchmarks\n\n## Summary\n\nby hand\n\n" + old + "\nReading: by hand, kept.\n\n"
        "### A million files, run by hand\n\nkept too\n"
    )
    bench_main.merge_section(old, "## Fixity\n\n| a | 2 |\n")
    text = results.read_text()
    assert "| a | 2 |" in text and "| a | 1 |" not in text
    for kept in ("by hand", "Reading: by hand, kept.", "A million files, run by hand", "kept too"):
        assert kept in text
    assert text.index("| a | 2 |") < text.index("Reading: by hand, kept.")  # in its place


def test_a_section_not_found_is_added_at_the_end(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(bench_main, "RESULTS", results)
    results.write_text("# benchmarks\n\n## Scan\n\nedited by hand since its run\n")
    bench_main.merge_section("## Scan\n\nas the run wrote it\n", "## Scan\n\nthe new run\n")
    bench_main.merge_section("", "## Dask\n\nfirst run\n")
    assert results.read_text() == (
        "# benchmarks\n\n## Scan\n\nedited by hand since its run\n\n"
        "## Scan\n\nthe new run\n\n## Dask\n\nfirst run\n"
    )


def test_without_a_results_file_it_is_assembled_from_the_sections(tmp_path, monkeypatch):
    results, sections = tmp_path / "RESULTS.md", tmp_path / "results"
    sections.mkdir()
    (sections / "summary.md").write_text("## Summary\n\nby hand\n")
    (sections / "dask.md").write_text("## Dask\n\nrun\n")
    monkeypatch.setattr(bench_main, "RESULTS", results)
    monkeypatch.setattr(bench_main, "SECTIONS", sections)
    bench_main.merge_section("", "## Dask\n\nrun\n")
    text = results.read_text()
    assert text.startswith("# photoverify benchmarks\n\nMachine: ")
    assert text.index("## Summary") < text.index("## Dask")
