"""Reports for people: the report model (model), the verdict in words (verdict), its HTML file
(html), its terminal rendering (terminal), what each outcome means in plain words (outcome_text),
and the saved findings a report reads (inputs)."""

from photoverify.verify.report.html import render_html
from photoverify.verify.report.inputs import read_verify_json
from photoverify.verify.report.model import ReportModel, build_report, render_terminal

__all__ = ["ReportModel", "build_report", "read_verify_json", "render_html", "render_terminal"]
