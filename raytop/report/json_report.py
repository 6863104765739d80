"""The JSON report: the report document as is; its schema is report.schema.json (docs/report.md)."""

from __future__ import annotations

import json
from pathlib import Path

from raytop.report.build import Report

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def render_json(report: Report) -> str:
    return json.dumps(report.doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
