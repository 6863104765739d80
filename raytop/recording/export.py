"""Export a recording as JSON Lines: one snapshot (docs/snapshot.md, plans included) per line."""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

from raytop.model import to_dict
from raytop.recording.reader import RecordingReader, print_skipped


def _finite(value: Any) -> Any:
    """NaN/Infinity are not JSON; a reading that is not a number becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def snapshot_json(snap) -> str:
    data = to_dict(snap)
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False)


def export_jsonl(reader: RecordingReader, out: TextIO) -> int:
    """Write every readable snapshot of ``reader`` to ``out``, one JSON object per line; lines
    written. Unreadable ones are skipped, with one line on stderr saying how many."""
    n = 0
    for snap in reader.iter_snapshots():
        out.write(snapshot_json(snap))
        out.write("\n")
        n += 1
    print_skipped(reader)
    return n
