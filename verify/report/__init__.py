"""Reports for people: the report model (model), its HTML file, its terminal rendering
(terminal), and what each outcome means in plain words (outcome_text)."""

from photoverify.verify.report.model import (
    ReportModel,
    build_report,
    read_verify_json,
    render_html,
    render_terminal,
)

__all__ = ["ReportModel", "build_report", "read_verify_json", "render_html", "render_terminal"]
