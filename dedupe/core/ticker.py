"""Progress for a loop over many small items: report every so many items, not each one."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def ticker(
    sizes: Mapping[str, int | None], progress: Callable[[int, int, int, int], None] | None,
    every: int = 32,
) -> Callable[[str | None], None]:  # fmt: skip
    """A callback for a loop over the keys of `sizes` (call it with each key, then with None at
    the end) that calls `progress(done, total, bytes done, bytes in all)` every `every`th key and
    at the end: a bar moved per item costs more than a small item's work."""
    total, total_bytes = len(sizes), sum(n or 0 for n in sizes.values())
    state = [0, 0]

    def tick(key: str | None) -> None:
        if progress is None:
            return
        if key is None:
            progress(total, total, total_bytes, total_bytes)
            return
        if state[0] and not state[0] % every:
            progress(state[0], total, state[1], total_bytes)
        state[0] += 1
        state[1] += sizes.get(key) or 0

    return tick
