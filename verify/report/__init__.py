"""Reports for people: the report model (model), the verdict in words (verdict), its HTML file
(html), its terminal rendering (terminal), what each outcome means in plain words (outcome_text),
and the saved findings a report reads (inputs)."""

from photoverify.dedupe.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "render_html": "html",
        "read_verify_json": "inputs",
        "ReportModel": "model",
        "build_report": "model",
        "render_terminal": "model",
    },
)
