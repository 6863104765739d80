"""The import boundaries (docs/architecture.md, "Import rules"), checked here and nowhere else.

- The pure core (``raytop.model``, ``format``, ``merge``, ``plan_graph``, every module of
  ``raytop.analysis``) and the report package import neither Ray nor Textual: imported one after
  the other in a fresh interpreter, none of them loads ``ray`` or ``textual``.
- Only ``raytop/tui/`` imports Textual: every source file outside it is scanned, imports inside
  functions included.
- ``raytop.probe`` and ``raytop.attach.agent`` run inside the user's Ray driver: they and every
  raytop module they import (at module level or inside a function) import only the standard
  library, Ray and raytop.
- ``raytop.cli`` does not load Textual: commands other than the live view do not pay for it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "raytop"

FORBIDDEN_IN_PURE_CORE = ("ray", "textual")
PURE_CORE = ["raytop.model", "raytop.format", "raytop.merge", "raytop.plan_graph"]
IN_THE_DRIVER = ["raytop.probe", "raytop.attach.agent"]
DRIVER_MAY_IMPORT = set(sys.stdlib_module_names) | {"ray", "raytop"}


# ---- the source files -----------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules_under(package_dir: Path) -> list[str]:
    return sorted(_module_name(p) for p in package_dir.rglob("*.py"))


def _path_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> Iterator[ast.stmt]:
    """Every import statement, in functions too; not those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(other)
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child)


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports; ``from X import y`` gives ``X`` and, when
    ``y`` is a module of raytop, ``X.y``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        names.add(target)
        for alias in node.names:
            if _path_of(f"{target}.{alias.name}") is not None:
                names.add(f"{target}.{alias.name}")
    return names


def _top(name: str) -> str:
    return name.split(".")[0]


# ---- Textual only in raytop/tui/ ------------------------------------------------------------

def test_textual_is_imported_only_inside_tui():
    offenders = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                       if (PACKAGE / "tui") not in p.parents
                       and "textual" in {_top(n) for n in _imports(p)})
    assert offenders == [], f"textual imported outside raytop/tui/: {offenders}"


# ---- the pure core, in a clean interpreter --------------------------------------------------

_LOAD_EACH = """
import json, sys
forbidden = {forbidden!r}
out = {{}}
for name in {modules!r}:
    __import__(name)
    out[name] = sorted(m for m in forbidden if m in sys.modules)
import raytop
print(json.dumps({{"raytop": raytop.__file__, "loaded": out}}))
"""


def _forbidden_after_each(modules: list[str]) -> dict[str, list[str]]:
    """Import ``modules`` one after the other in a fresh interpreter (this checkout's raytop);
    for each, which of FORBIDDEN_IN_PURE_CORE were loaded by then."""
    code = _LOAD_EACH.format(forbidden=FORBIDDEN_IN_PURE_CORE, modules=modules)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(answer["raytop"]).resolve().is_relative_to(PACKAGE), answer["raytop"]
    return answer["loaded"]


def test_pure_core_and_reports_import_neither_ray_nor_textual():
    modules = (PURE_CORE + _modules_under(PACKAGE / "analysis")
               + _modules_under(PACKAGE / "report"))
    loaded = _forbidden_after_each(modules)
    first = next(((m, bad) for m, bad in loaded.items() if bad), None)
    assert first is None, f"importing {first[0]} loaded {first[1]}"


def test_cli_import_does_not_load_textual():
    assert "textual" not in _forbidden_after_each(["raytop.cli"])["raytop.cli"]


# ---- what runs inside the user's driver -----------------------------------------------------

def _raytop_closure(module: str) -> dict[str, set[str]]:
    """``module`` and every raytop module it imports, transitively, with their packages'
    ``__init__``: module -> the names it imports."""
    seen: dict[str, set[str]] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            path = _path_of(prefix)
            if prefix in seen or path is None:
                continue
            seen[prefix] = _imports(path)
            todo.extend(n for n in seen[prefix] if _top(n) == "raytop")
    return seen


@pytest.mark.parametrize("module", IN_THE_DRIVER)
def test_what_runs_in_the_driver_imports_only_stdlib_ray_and_raytop(module):
    closure = _raytop_closure(module)
    assert module in closure
    offenders = {m: sorted(n for n in names if _top(n) not in DRIVER_MAY_IMPORT)
                 for m, names in closure.items()}
    offenders = {m: names for m, names in offenders.items() if names}
    assert offenders == {}, f"{module} pulls in more than the stdlib, Ray and raytop: {offenders}"
