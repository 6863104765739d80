"""Which of the advisor's fixes `raytop tune` can try: a fix written as a change to one Ray Data
call (``ds.map_batches(preprocess, compute=TaskPoolStrategy(size=4), ...)``) becomes the
equivalent ``--set`` override. Fixes with a placeholder (``<more blocks>``) or that change code
rather than an argument cannot be tried and are skipped. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from raytop.errors import BadInput
from raytop.model import Suggestion
from raytop.tuning.overrides import Override, parse_setting

_METHOD_KIND = {"map_batches": "MapBatches", "map": "Map", "flat_map": "FlatMap",
                "filter": "Filter"}
_CALL = re.compile(r"^ds\.(?P<method>\w+)\((?P<udf>[^,()]+),\s*(?P<args>.*?),\s*\.\.\.\)")
_READ = re.compile(r"^ray\.data\.(?P<fn>\w+)\(\.\.\.,\s*(?P<args>.*?)\)")
_TASKS = re.compile(r"TaskPoolStrategy\(size=(\d+)\)")
_ACTORS = re.compile(r"ActorPoolStrategy\((?:size=(\d+)|min_size=(\d+),\s*max_size=(\d+))\)")
_PLAIN = re.compile(r"\b(batch_size|num_cpus|num_gpus|memory|override_num_blocks)=([0-9.]+)\b")


def _read_operator(fn: str) -> str:
    if fn == "range":
        return "ReadRange"
    words = fn[len("read_"):].split("_") if fn.startswith("read_") else fn.split("_")
    special = {"csv": "CSV", "json": "JSON", "sql": "SQL"}
    return "Read" + "".join(special.get(w, w.capitalize()) for w in words)


def _operator_and_args(code: str):
    m = _CALL.match(code)
    if m is not None and m.group("method") in _METHOD_KIND:
        return f"{_METHOD_KIND[m.group('method')]}({m.group('udf').strip()})", m.group("args")
    m = _READ.match(code)
    if m is not None:
        return _read_operator(m.group("fn")), m.group("args")
    return None, None


def code_lines(fix: str) -> list[str]:
    """The fix's lines without their comments; comment-only lines are left out."""
    lines = (line.split("  #", 1)[0].strip() for line in fix.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _settings(operator: str, args: str) -> list[str]:
    out = []
    tasks, actors = _TASKS.search(args), _ACTORS.search(args)
    if tasks:
        out.append(f"{operator}.concurrency={tasks.group(1)}")
    elif actors:
        size, lo, hi = actors.groups()
        out.append(f"{operator}.concurrency={size}" if size else
                   f"{operator}.concurrency={lo}-{hi}")
    out += [f"{operator}.{key}={value}" for key, value in _PLAIN.findall(args)]
    return out


def overrides_of(suggestion: Suggestion) -> list[Override] | None:
    """The fix as overrides (a setting per call it changes), or None when some line of it
    cannot be expressed as one."""
    settings: list[str] = []
    for code in code_lines(suggestion.fix):
        if "<" in code:
            return None  # a placeholder: the user has to choose the value
        operator, args = _operator_and_args(code)
        if operator is None:
            return None
        settings += _settings(operator, args)
    try:
        found = [parse_setting(s) for s in settings]
    except BadInput:
        return None
    return found or None


def next_candidate(suggestions: Sequence[Suggestion], tried: Sequence[str]
                   ) -> tuple | None:
    """(suggestion, overrides) of the most important finding whose fix can be tried and was not
    tried yet; the advisor ranks them (critical, warning, info; impact)."""
    for s in suggestions:
        found = overrides_of(s)
        if found and not any(o.text in tried for o in found):
            return s, found
    return None
