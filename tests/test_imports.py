"""Import boundaries: textual only inside raytop/tui/; model and analysis free of Ray and Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "raytop"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_textual_is_imported_only_inside_tui():
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if "textual" in _imported_modules(p) and (PACKAGE / "tui") not in p.parents]
    assert offenders == []


def _loaded_after_import(module: str) -> set[str]:
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    import json

    return set(json.loads(out.strip().splitlines()[-1]))


def test_model_imports_neither_ray_nor_textual():
    loaded = _loaded_after_import("raytop.model")
    assert "ray" not in loaded and "textual" not in loaded


def test_analysis_imports_neither_ray_nor_textual():
    modules = ["raytop.analysis"] + [
        f"raytop.analysis.{p.stem}" for p in sorted((PACKAGE / "analysis").glob("*.py"))
        if p.stem != "__init__"]
    loaded = _loaded_after_import("; import ".join(modules))
    assert "ray" not in loaded and "textual" not in loaded


def test_cli_import_does_not_pull_textual():
    # other commands (report, export, doctor) must not pay for the TUI
    loaded = _loaded_after_import("raytop.cli")
    assert "textual" not in loaded
