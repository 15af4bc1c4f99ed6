"""The report as one self-contained HTML file: inline CSS, inline SVG charts, a few lines of
inline JavaScript and thumbnails as JPEG data URIs, nothing that loads from anywhere else.

Large reports stay quick to open: each group shows its first `ROWS_INLINE` rows as HTML and keeps
the rest as inline JSON (`script_json`) that a small script turns into rows `ROWS_PER_PAGE` at a
time on request, so the browser parses a few hundred table rows whatever the number of findings.
Thumbnail work is bounded by `max_thumbnails` (the first clusters, then the first metadata-loss
rows) and runs in a process pool. The page renders a `ReportModel` (verify.report.model); it
decides nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoverify.dedupe.core.display import display_text
from photoverify.dedupe.core.outfile import write_output
from photoverify.verify.report.model import (
    PROBLEM_SECTIONS,
    SECTIONS,
    VIDEO_EXTENSIONS,
    ClusterView,
    MemberView,
    ReportModel,
    Row,
    key_evidence,
)
from photoverify.verify.report.outcome_text import plain, tone
from photoverify.verify.report.verdict import SINGULAR, broken_only, human_bytes, problems_in

if TYPE_CHECKING:
    import jinja2


ROWS_INLINE = 200  # rows of each group rendered as HTML; the rest wait in inline JSON
ROWS_PER_PAGE = 1000  # rows the "show more" button adds at a time
CLUSTERS_INLINE = 100  # cluster cards rendered as HTML; the rest wait in inline JSON
MEMBERS_SHOWN = 8  # members of one cluster that get a tile (and maybe a thumbnail)
MAX_THUMBNAILS = 400
THUMB_BOX = 160
THUMB_QUALITY = 70
THUMB_TIMEOUT_S = 120.0  # for all thumbnails together; the rest get placeholders


# -------------------------------------------------------------------------------- thumbnails


def make_thumbnail(path: str, box: int = THUMB_BOX, quality: int = THUMB_QUALITY) -> str | None:
    """A JPEG data URI of the picture as shown (EXIF orientation applied), at most `box` pixels
    on its long side; None when the file does not decode (the report shows a placeholder)."""
    try:
        im = _open_picture(path, box)
        if im is None:
            return None
        im.thumbnail((box, box))
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            from PIL import Image

            rgba = im.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            im = flat
        else:
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001 - a file that does not decode gets a placeholder
        return None


def _open_picture(path: str, box: int):
    from PIL import Image, ImageOps

    if os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
        import av

        from photoverify.dedupe.catalog.decoding import frame_picture, one_thread

        with av.open(path) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            one_thread(stream.codec_context)
            for frame in container.decode(stream):
                return frame_picture(frame)
        return None
    import photoverify.dedupe.catalog.decoding  # noqa: F401 - registers every decoder with Pillow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (box * 2, box * 2))  # DCT scaling: decode only what is shown
            im.load()
            return ImageOps.exif_transpose(im).copy()


def _thumbnail_targets(model: ReportModel, limit: int) -> list[str]:
    """The files whose thumbnails are worth their bytes, most useful first, at most `limit`."""
    targets: list[str] = []
    seen: set[str] = set()

    def add(path: str | None) -> bool:
        if path and path not in seen:
            seen.add(path)
            targets.append(path)
        return len(targets) < limit

    for c in model.clusters[:CLUSTERS_INLINE]:
        for m in c.members[:MEMBERS_SHOWN]:
            if not add(m.path):
                return targets
    for g in model.section("metadata").groups:
        for r in g.rows[:ROWS_INLINE]:
            if not add(r.file):
                return targets
    return targets


def make_thumbnails(
    paths: Sequence[str],
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    timeout: float = THUMB_TIMEOUT_S,
) -> dict[str, str]:
    """path -> data URI for the paths that decode, made in a process pool."""
    if not paths:
        return {}
    if len(paths) <= 4 and executor is None:  # a pool costs more than it saves here
        return {p: uri for p in paths if (uri := make_thumbnail(p)) is not None}
    from photoverify.dedupe.catalog.executors import local_executor

    own = executor is None
    ex = executor or local_executor(workers)
    try:
        futures = {ex.submit(make_thumbnail, p): p for p in paths}
        done, _ = wait(futures, timeout=timeout)
        out = {}
        for fut in done:
            uri = fut.result() if fut.exception() is None else None
            if uri is not None:
                out[futures[fut]] = uri
        return out
    finally:
        if own:
            ex.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------- rendering


def _env() -> jinja2.Environment:
    import jinja2  # only the HTML page needs it: a terminal summary starts faster without

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,  # every name and message is escaped, in text and in attributes
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["show"] = display_text
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["bytes"] = human_bytes
    env.filters["evidence"] = key_evidence
    env.filters["plain"] = plain
    return env


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives literally, so neither
    `</script>` nor `<!--` in a file name can end or change the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _compact_row(r: Row) -> list[Any]:
    return [
        display_text(r.name),
        display_text(r.folder),
        display_text(r.message),
        key_evidence(r.evidence),
        r.check,
    ]


def _compact_cluster(c: ClusterView) -> list[Any]:
    return [
        display_text(c.id),
        c.kind,
        display_text(c.reason),
        [
            [display_text(m.name), display_text(m.place), m.relation, _member_detail(m)]
            for m in c.members
        ],
    ]


def _member_detail(m: MemberView) -> str:
    bits = []
    if m.captured_at:
        bits.append(m.captured_at[:10])
    if m.width and m.height:
        bits.append(f"{m.width}×{m.height}")
    if m.size is not None:
        bits.append(human_bytes(m.size))
    if m.format:
        bits.append(m.format)
    if m.distance:
        bits.append(f"distance {m.distance}")
    return " · ".join(bits)


def render_html(
    model: ReportModel,
    out_path: str | os.PathLike,
    *,
    thumbnails: bool = True,
    max_thumbnails: int = MAX_THUMBNAILS,
    executor: Executor | None = None,
) -> None:
    """Write the report as one self-contained HTML file (atomically: a reader never sees half)."""
    thumbs: dict[str, str] = {}
    if thumbnails and max_thumbnails > 0:
        thumbs = make_thumbnails(_thumbnail_targets(model, max_thumbnails), executor=executor)

    more_rows: dict[str, list[list[Any]]] = {}
    for s in model.sections:
        for i, g in enumerate(s.groups):
            if len(g.rows) > ROWS_INLINE:
                more_rows[f"{s.id}-{i}"] = [_compact_row(r) for r in g.rows[ROWS_INLINE:]]
    more = {
        "rows": more_rows,
        "clusters": [_compact_cluster(c) for c in model.clusters[CLUSTERS_INLINE:]],
        "related": [
            [display_text(r.a), display_text(r.b), r.kind, key_evidence(r.evidence)]
            for r in model.related[ROWS_INLINE:]
        ],
    }
    anchors: dict[str, str] = {}
    for s in model.sections:
        for i, g in enumerate(s.groups):
            anchors.setdefault(g.outcome, f"g-{s.id}-{i}")
    script = Path(__file__).with_name("templates").joinpath("report.js").read_text("utf-8")
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    html = (
        _env()
        .get_template("report.html.j2")
        .render(
            m=model,
            sections=SECTIONS,
            thumbs=thumbs,
            more_json=script_json(more),
            rows_inline=ROWS_INLINE,
            rows_per_page=ROWS_PER_PAGE,
            clusters_inline=CLUSTERS_INLINE,
            members_shown=MEMBERS_SHOWN,
            anchors=anchors,
            script=script,
            script_hash=script_hash,
            member_detail=_member_detail,
            tone=tone,
            problem_sections=PROBLEM_SECTIONS,
            singular=SINGULAR,
            problems_in=problems_in,
            broken_only=broken_only,
        )
    )
    write_output(out_path, html.encode("utf-8"))
