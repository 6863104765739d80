"""Session reports: self-contained HTML with charts, Markdown with images, JSON (docs/report.md)."""

from raytop.report.api import FORMATS, write_report

__all__ = ["FORMATS", "write_report"]
