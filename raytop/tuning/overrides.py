"""`--set 'OPERATOR.key=value'`: what may be overridden, parsed and checked before the script
starts. Pure: the part that runs inside the script is ``tuning/launch.py``.

OPERATOR is a logical operator's name as raytop shows it (``MapBatches(preprocess)``,
``Map(parse)``, ``ReadParquet``, ``ReadRange``) or ``DataContext`` for a setting of Ray Data's
context. The keys are arguments of Ray Data's public calls:

- ``MapBatches`` / ``Map`` / ``FlatMap`` / ``Filter``: ``batch_size`` (MapBatches only),
  ``concurrency`` (N or MIN-MAX: an actor pool for a class, a task pool for a function),
  ``num_cpus``, ``num_gpus``, ``memory`` (bytes);
- ``Read…``: ``override_num_blocks``, ``concurrency``;
- ``DataContext``: any field of ``ray.data.DataContext`` (``target_max_block_size``, …).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytop.errors import BadInput

MAP_KINDS = ("MapBatches", "Map", "FlatMap", "Filter")
MAP_KEYS = ("batch_size", "concurrency", "num_cpus", "num_gpus", "memory")
READ_KEYS = ("override_num_blocks", "concurrency")
CONTEXT = "DataContext"
_METHOD_KIND = {"map_batches": "MapBatches", "map": "Map", "flat_map": "FlatMap",
                "filter": "Filter"}
_SETTING = re.compile(r"^(?P<op>.+)\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class Override:
    operator: str  # logical operator name, or "DataContext"
    key: str
    value: Any  # parsed: int, float, (min, max), None (batch_size=default)
    text: str  # as the user wrote it, for the recording

    @property
    def kind(self) -> str:
        """MapBatches / Map / FlatMap / Filter / Read / DataContext."""
        if self.operator == CONTEXT:
            return CONTEXT
        if self.operator.startswith("Read"):
            return "Read"
        return self.operator.split("(", 1)[0]


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"--set {what}: {text!r} is not a number") from None
    if value != value or value < 0:
        raise BadInput(f"--set {what}: {text!r} must be 0 or more")
    return value


def _int(text: str, what: str) -> int:
    value = _number(text, what)
    if not value.is_integer() or value < 1:
        raise BadInput(f"--set {what}: {text!r} must be a whole number, 1 or more")
    return int(value)


def _concurrency(text: str, what: str) -> Any:
    if "-" in text:
        lo, hi = (_int(part, what) for part in text.split("-", 1))
        if lo > hi:
            raise BadInput(f"--set {what}: {text!r}: the minimum is above the maximum")
        return (lo, hi)
    return _int(text, what)


def _value(kind: str, key: str, text: str, what: str) -> Any:
    if key == "concurrency":
        return _concurrency(text, what)
    if key in ("override_num_blocks",):
        return _int(text, what)
    if key == "batch_size":
        return None if text.strip().lower() in ("none", "default") else _int(text, what)
    return _number(text, what)


def parse_setting(text: str) -> Override:
    """One ``--set`` value; BadInput (exit 2) with one line when it cannot be."""
    m = _SETTING.match(text.strip())
    if m is None:
        raise BadInput(f"--set {text!r}: write OPERATOR.key=value, e.g. "
                       "'MapBatches(preprocess).concurrency=8'")
    op, key, raw = m.group("op").strip(), m.group("key"), m.group("value").strip()
    if "->" in op:
        raise BadInput(f"--set {text!r}: name one logical operator ({op.split('->')[-1]}), "
                       "not a fused one")
    override = Override(operator=op, key=key, value=None, text=text.strip())
    kind = override.kind
    if kind == CONTEXT:
        return Override(op, key, _context_value(key, raw, text), override.text)
    allowed = READ_KEYS if kind == "Read" else MAP_KEYS if kind in MAP_KINDS else ()
    if not allowed:
        raise BadInput(f"--set {text!r}: {op} is not an operator raytop can set (Read…, "
                       f"{', '.join(k + '(…)' for k in MAP_KINDS)} or DataContext)")
    known = [k for k in allowed if kind == "MapBatches" or k != "batch_size"]
    if key not in known:
        raise BadInput(f"--set {text!r}: unknown key {key!r} for {kind} "
                       f"(known: {', '.join(known)})")
    return Override(op, key, _value(kind, key, raw, text), override.text)


def _context_value(key: str, raw: str, text: str) -> Any:
    from raytop.tuning.context_fields import context_fields

    fields = context_fields()
    if fields is not None and key not in fields:
        raise BadInput(f"--set {text!r}: DataContext has no setting {key!r}")
    current = fields.get(key) if fields else None
    if isinstance(current, bool) or raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if isinstance(current, int) or (current is None and raw.isdigit()):
        return _int(raw, text) if raw.isdigit() else int(_number(raw, text))
    if isinstance(current, float):
        return _number(raw, text)
    return raw


def parse_settings(texts: Sequence[str]) -> tuple[Override, ...]:
    out = tuple(parse_setting(t) for t in texts)
    seen: set[tuple[str, str]] = set()
    for o in out:
        if (o.operator, o.key) in seen:
            raise BadInput(f"--set {o.operator}.{o.key} is given twice")
        seen.add((o.operator, o.key))
    return out


# ---- what the script names, read from its source (before it starts) ---------------------------

def _udf_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Lambda):
        return "<lambda>"
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "partial" and node.args:
        return _udf_name(node.args[0])
    return None


def operators_in_source(source: str) -> tuple[set[str], bool]:
    """The logical operator names the script's Ray Data calls spell out, and whether some call
    could not be read (a UDF passed through a variable of another name, say)."""
    names: set[str] = set()
    unsure = False
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        if method in _METHOD_KIND and node.args:
            name = _udf_name(node.args[0])
            if name is None:
                unsure = True
            else:
                names.add(f"{_METHOD_KIND[method]}({name})")
        elif method == "range" or method.startswith("read_"):
            names.add(_read_name(method))
    return names, unsure


def _read_name(method: str) -> str:
    if method == "range":
        return "ReadRange"
    words = method[len("read_"):].split("_")
    special = {"csv": "CSV", "json": "JSON", "sql": "SQL", "bigquery": "BigQuery"}
    return "Read" + "".join(special.get(w, w.capitalize()) for w in words)


def check_against_script(overrides: Sequence[Override], script: Path) -> list[str]:
    """BadInput when an override names an operator the script certainly does not have; notes
    for the ones that can only be checked while it runs."""
    if not overrides:
        return []
    try:
        found, unsure = operators_in_source(script.read_text(errors="replace"))
    except SyntaxError as e:
        raise BadInput(f"{script}: not valid Python ({e.msg}, line {e.lineno})") from None
    notes = []
    for o in overrides:
        if o.operator == CONTEXT or o.operator in found:
            continue
        if unsure or o.kind == "Read":  # reads are named by their datasource class
            notes.append(f"--set {o.text}: {o.operator} not seen in {script.name}'s source; "
                         "checked while it runs")
            continue
        known = ", ".join(sorted(found)) or "none"
        raise BadInput(f"--set {o.text}: {script.name} has no operator {o.operator} "
                       f"(its operators: {known})")
    return notes


def to_env(overrides: Sequence[Override]) -> dict[str, Any]:
    """What the launcher in the script's process needs (JSON-safe)."""
    return {"overrides": [{"operator": o.operator, "key": o.key, "value": o.value,
                           "text": o.text} for o in overrides]}
