"""Where dupes' memory goes: the peak RSS of each phase of `find_duplicates` on a catalog.

    python -m benchmarks.dupes_phases CATALOG

Runs what `photoverify dupes --format json` runs (records read for matching, without their
signatures, packed into columns; find_duplicates; the JSON written to /dev/null) in this
process, with a thread sampling its RSS every 20 ms. A phase is the time inside one of the
functions below (nested calls are their own phase); "after X" is the time back in the caller
once X returned.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time

import psutil

_PHASES = {
    "graph": ("find_assets", "_logged", "pair_keys", "_units", "_assign"),
    "candidates": ("turned_keys", "near_groups", "shared_keys"),
}


class Sampler:
    def __init__(self) -> None:
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self._proc = psutil.Process()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            rss = self._proc.memory_info().rss / 2**20
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)
            time.sleep(0.02)

    def wrap(self, module, name: str) -> None:
        inner = getattr(module, name)

        def timed(*args, **kwargs):
            self.phase = name
            try:
                return inner(*args, **kwargs)
            finally:
                self.phase = f"after {name}"

        setattr(module, name, timed)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("catalog")
    args = ap.parse_args(argv)
    sampler = Sampler()
    from photoverify.dedupe.catalog.store import Catalog
    from photoverify.dedupe.match import candidates, graph
    from photoverify.dedupe.match.table import RecordTable

    for module, names in ((graph, _PHASES["graph"]), (candidates, _PHASES["candidates"])):
        for name in names:
            sampler.wrap(module, name)
    t0 = time.perf_counter()
    with Catalog(args.catalog) as catalog:
        sampler.phase = "records"
        records = RecordTable.from_records(
            catalog.library_records(signatures=False, for_matching=True)
        )
        sampler.phase = "find_duplicates"
        result = graph.find_duplicates(records, signatures=catalog.signatures)
        sampler.phase = "json"
        with open(os.devnull, "w") as out:
            for chunk in result.json_chunks():
                out.write(chunk)
    time.sleep(0.1)
    print("| phase | peak RSS MiB |\n|---|---:|")
    for phase, peak in sampler.peaks.items():
        print(f"| {phase} | {peak:.0f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{len(records):,} records, {len(result.related):,} relations reported, "
          f"{time.perf_counter() - t0:.0f} s, peak RSS (ru_maxrss) {peak:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
