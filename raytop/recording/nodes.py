"""The node table of a snapshot row as a patch against the previous row (schema 2).

A keyframe row holds every node in full (``nodes`` in its JSON, as in schema 1). A delta row holds
``node_patch``: per leaf of each node's JSON (``cpu_percent``, ``gpus/3/util_percent``,
``heap_by_operator/<op>``...), only the values that differ from the previous row's node with the
same ``node_id``, grouped by leaf (a column per leaf path compresses well: one kind of figure side
by side; see ``_column`` for how values are stored). The round trip is exact: the reader rebuilds
the very node dicts the writer flattened.

    {"base": [previous row's index or -1, per node],  # omitted when the nodes are the same, in order
     "new": [node dict, ...],                         # the nodes with base -1, in order
     "paths": [[key, ...], ...],                      # leaf paths the columns and drops refer to
     "cols": [[path index, mode, position gaps, values(, unit)], ...],
     "drop": [[position, [path index, ...]], ...]}     # leaves a node no longer has
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

Path = tuple  # of str (object keys) and int (list indices)
Flat = dict  # Path -> leaf value (a scalar, or an empty list/dict)


def flatten(value: Any, prefix: Path = (), out: Flat | None = None) -> Flat:
    """Every leaf of a JSON value by its path; empty containers are leaves of their own."""
    if out is None:
        out = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            flatten(item, prefix + (key,), out)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            flatten(item, prefix + (index,), out)
    else:
        out[prefix] = value
    return out


def _build(items: list[tuple[Path, Any]], depth: int) -> Any:
    """The JSON value whose leaves are ``items`` (paths sharing their first ``depth`` keys)."""
    if len(items) == 1 and len(items[0][0]) == depth:
        return items[0][1]
    groups: dict[Any, list] = {}
    for path, value in items:
        if len(path) <= depth:
            raise ValueError("a node leaf is also a container")
        groups.setdefault(path[depth], []).append((path, value))
    keys = list(groups)
    if all(type(k) is int for k in keys):
        if sorted(keys) != list(range(len(keys))):
            raise ValueError("a node list has gaps")
        return [_build(groups[i], depth + 1) for i in range(len(keys))]
    if not all(type(k) is str for k in keys):
        raise TypeError("node keys must be all text or all list indices")
    return {k: _build(groups[k], depth + 1) for k in keys}


def unflatten(flat: Flat) -> Any:
    if not flat:
        raise ValueError("a node without fields")
    return _build(list(flat.items()), 0)


MIB = 1 << 20
_MIB_FIELDS = ("mem_used_bytes", "heap_bytes")


def _mib(v: Any) -> Any:
    return (v + MIB // 2) // MIB * MIB if type(v) is int else v


def quantize(node: dict) -> dict:
    """``node`` (``to_dict`` of a NodeStats) at the resolution the recording keeps: host memory
    and worker memory per node in whole MiB, GPU power in whole watts (as the TUI shows it).
    These readings move every second below that resolution (memory in 4 KiB pages, power in
    milliwatts); kept exactly they would be most of a large cluster's recording."""
    for key in _MIB_FIELDS:
        node[key] = _mib(node.get(key))
    heap = node.get("heap_by_operator")
    if isinstance(heap, dict):
        node["heap_by_operator"] = {op: _mib(v) for op, v in heap.items()}
    for gpu in node.get("gpus") or ():
        watts = gpu.get("power_watts") if isinstance(gpu, dict) else None
        if type(watts) is float and math.isfinite(watts):
            gpu["power_watts"] = float(round(watts))
    return node


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # 1 == 1.0 == True, yet they are different JSON


def _is_int(v: Any) -> bool:
    return type(v) is int


def _gaps(positions: Sequence[int]) -> list[int]:
    return [p - (positions[i - 1] if i else 0) for i, p in enumerate(positions)]


def make_patch(prev_ids: Sequence[str], prev_flats: Sequence[Flat], nodes: Sequence[dict],
               flats: Sequence[Flat] | None = None, same: Sequence[bool] | None = None) -> dict:
    """``node_patch`` of ``nodes`` (``to_dict`` of each node) against the previous row's nodes
    (``prev_ids``, ``prev_flats``). ``flats``: the nodes flattened, if the caller has them;
    ``same``: per node, known to equal the previous row's node of its id (not compared)."""
    index: dict[Any, int] = {node_id: k for k, node_id in enumerate(prev_ids)}
    base: list[int] = []
    new: list[dict] = []
    paths: dict[Path, int] = {}
    columns: dict[int, tuple[list[int], list[Any], list[Any]]] = {}
    drops: list[list] = []
    for pos, node in enumerate(nodes):
        k = index.get(node.get("node_id"), -1) if isinstance(node, dict) else -1
        base.append(k)
        if k < 0:
            new.append(node)
            continue
        if same is not None and same[pos]:
            continue
        cur = flats[pos] if flats is not None else flatten(node)
        old = prev_flats[k]
        for path, value in cur.items():
            if path in old and _same(old[path], value):
                continue
            col = columns.setdefault(paths.setdefault(path, len(paths)), ([], [], []))
            col[0].append(pos)
            col[1].append(old.get(path))
            col[2].append(value)
        gone = [paths.setdefault(p, len(paths)) for p in old if p not in cur]
        if gone:
            drops.append([pos, gone])
    patch: dict[str, Any] = {"paths": [list(p) for p in paths], "cols": [
        _column(i, *col) for i, col in columns.items()]}
    if base != list(range(len(prev_ids))):
        patch["base"], patch["new"] = base, new
    if drops:
        patch["drop"] = drops
    return patch


def _decimals(olds: list, values: list) -> int | None:
    """The fewest decimals (0-3) in which every float of ``olds`` and ``values`` is exact, so
    that their differences are whole numbers of that unit; None when there is none."""
    for k in range(4):
        unit = 10 ** k
        if all(type(v) is float and math.isfinite(v) and round(v * unit) / unit == v
               for v in itertools.chain(olds, values)):
            return k
    return None


def _binary_unit(diffs: list[int]) -> int:
    """The largest power of two from 1 KiB to 1 MiB dividing every difference (memory moves in
    4 KiB pages, or in MiB once quantized); 1 when there is none. Fixed units keep the column's
    text alike from row to row, which the compression dictionary rewards."""
    bits = 0
    for d in diffs:
        bits |= abs(d)
    zeros = (bits & -bits).bit_length() - 1 if bits else 0
    return 1 << min(zeros, 20) if zeros >= 10 else 1


def _column(path_index: int, positions: list[int], olds: list, values: list) -> list:
    """A column: [path index, mode, position gaps, values(, unit)]. Mode 0: the values as they
    are. Mode 1: integers, as differences to the previous row's, divided by their common binary
    unit (4096 for memory counted in pages). Mode 2: floats with ``unit`` decimals, as differences in
    that unit (a percentage with one decimal: tenths)."""
    gaps = _gaps(positions)
    if all(_is_int(o) and _is_int(v) for o, v in zip(olds, values, strict=True)):
        diffs = [v - o for o, v in zip(olds, values, strict=True)]
        divisor = _binary_unit(diffs)
        if divisor == 1:
            return [path_index, 1, gaps, diffs]
        return [path_index, 1, gaps, [d // divisor for d in diffs], divisor]
    k = _decimals(olds, values)
    if k is None:
        return [path_index, 0, gaps, values]
    unit = 10 ** k
    return [path_index, 2, gaps,
            [round(v * unit) - round(o * unit) for o, v in zip(olds, values, strict=True)], k]


def _positions(gaps: Any, n: int) -> list[int]:
    if not isinstance(gaps, list) or not all(type(g) is int and g >= 1 for g in gaps[1:]) or (
            gaps and (type(gaps[0]) is not int or gaps[0] < 0)):
        raise ValueError("bad node positions in a patch")
    out = list(itertools.accumulate(gaps))
    if out and out[-1] >= n:
        raise IndexError("a patch refers to a node that is not there")
    return out


def _base(patch: dict, n_key: int) -> tuple[list[int], list]:
    base = patch.get("base", list(range(n_key)))
    new = patch.get("new", [])
    if not isinstance(base, list) or not isinstance(new, list):
        raise TypeError("bad node base in a patch")
    if sum(1 for k in base if k == -1) != len(new):
        raise ValueError("new nodes do not match their count in a patch")
    for k in base:
        if not _is_int(k) or not -1 <= k < n_key:
            raise IndexError("a patch refers to a keyframe node that is not there")
    return base, new


def _paths(patch: dict) -> list[Path]:
    out = []
    for p in patch["paths"]:
        if not isinstance(p, list) or not all(type(k) in (str, int) for k in p):
            raise TypeError("bad leaf path in a patch")
        out.append(tuple(p))
    return out


def _column_values(mode: Any, olds: list, stored: list, unit: Any) -> list:
    """A column's values from what it stores and the previous row's values."""
    if mode == 0:
        return stored
    if not _is_int(unit) or not all(type(x) is int for x in stored):
        raise TypeError("a difference in a patch must be an integer")
    if mode == 1 and all(type(x) is int for x in olds):
        return [o + d * unit for o, d in zip(olds, stored, strict=True)]
    if mode == 2 and 0 <= unit <= 3 and all(type(x) is float for x in olds):
        scale = 10 ** unit
        return [(round(o * scale) + d) / scale for o, d in zip(olds, stored, strict=True)]
    raise TypeError("a difference applied to a value of another kind")


def _changes(prev_flats: Sequence[Flat], base: list[int], paths: list[Path],
             columns: Any) -> dict[int, Flat]:
    changes: dict[int, Flat] = {}
    for column in columns:
        path_index, mode, gaps, stored = column[:4]
        unit = column[4] if len(column) > 4 else (1 if mode == 1 else 0)
        path = paths[path_index]
        positions = _positions(gaps, len(base))
        if not isinstance(stored, list) or len(stored) != len(positions):
            raise ValueError("a patch column has the wrong length")
        keys = [base[pos] for pos in positions]
        if any(k < 0 for k in keys):
            raise ValueError("a patch changes a new node")
        olds = [prev_flats[k].get(path) for k in keys] if mode else []
        for pos, value in zip(positions, _column_values(mode, olds, stored, unit), strict=True):
            changes.setdefault(pos, {})[path] = value
    return changes


def apply_patch(prev_flats: Sequence[Flat], patch: Any) -> tuple[list[Flat], list[bool]]:
    """The flattened nodes of a delta row from the previous row's, and per node whether it
    differs from the previous row's node at the same index (unchanged ones are the very same
    dicts, so their decoded nodes can be shared)."""
    if not isinstance(patch, dict):
        raise TypeError("a node patch must be an object")
    base, new = _base(patch, len(prev_flats))
    paths = _paths(patch)
    changes = _changes(prev_flats, base, paths, patch["cols"])
    drops: dict[int, list[Path]] = {}
    for pos, gone in patch.get("drop", []):
        drops[pos] = [paths[i] for i in gone]
    flats: list[Flat] = []
    changed: list[bool] = []
    new_nodes = iter(new)
    for pos, k in enumerate(base):
        if k < 0:
            flats.append(flatten(next(new_nodes)))
        elif pos in changes or pos in drops:
            flat = dict(prev_flats[k])
            flat.update(changes.get(pos, {}))
            for path in drops.get(pos, ()):
                del flat[path]
            flats.append(flat)
        else:
            flats.append(prev_flats[k])
        changed.append(k != pos or pos in changes or pos in drops)
    return flats, changed
