"""A recording loaded for reporting: metadata, snapshots in time order, events.

A recording of more than ``MAX_SNAPSHOTS`` snapshots (an hour at 1 Hz) is read as an even
selection of that many (of its keyframes, one a minute, beyond 10 hours), plus the snapshots on
either side of each dataset event, so that a report of a day-long recording takes the time and
memory of an hour's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytop.model import Event, Snapshot

MAX_SNAPSHOTS = 3600
_KEYFRAMES_ONLY = 10  # see selection()


@dataclass(frozen=True)
class History:
    snapshots: tuple[Snapshot, ...]
    events: tuple[Event, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""  # the recording's file name, shown in the report
    skipped_note: str | None = None  # how many unreadable snapshots were left out, if any
    recorded: int | None = None  # snapshots in the recording when only a selection was read


def selection(times: Sequence[float], events: Sequence[Event], index_at, limit: int,
              keyframes: Sequence[int] = ()) -> list[int]:
    """Indices of the snapshots to read: all of them up to ``limit``; else ``limit`` evenly
    spaced ones (first and last among them) and the two around each dataset event. Beyond
    ``_KEYFRAMES_ONLY`` x ``limit`` snapshots the evenly spaced ones are keyframes only: a delta
    row costs the decoding of every row back to its keyframe, and spacing wider than half the
    keyframe interval (60 rows) would decode every row of the file."""
    n = len(times)
    if n <= limit:
        return list(range(n))
    pool: Sequence[int] = range(n)
    if n > _KEYFRAMES_ONLY * limit and keyframes:
        pool = keyframes
    step = max(1.0, (len(pool) - 1) / (limit - 1))
    picked = {pool[min(len(pool) - 1, round(k * step))] for k in range(min(limit, len(pool)))}
    picked.update((0, n - 1))
    near = [ev for ev in events if ev.kind.startswith("dataset_")][:limit // 8]
    for ev in near:
        i = index_at(ev.t)
        picked.update(j for j in (i, i + 1) if j < n)
    return sorted(picked)


def load_history(path: Path) -> History:
    """Read a recording (a selection of a long one, see above); ``RecordingError`` for a bad
    file or one without snapshots."""
    from raytop.recording import RecordingError, RecordingReader

    reader = RecordingReader(path)
    try:
        events = tuple(sorted(reader.events(), key=lambda e: e.t))
        times = reader.times()
        keyframes = reader.keyframe_indices() if len(times) > _KEYFRAMES_ONLY * MAX_SNAPSHOTS \
            else ()
        picks = selection(times, events, reader.index_at, MAX_SNAPSHOTS, keyframes)
        snapshots = tuple(reader.iter_indices(picks))
        meta = dict(reader.meta)
        note = reader.skipped_note()
        recorded = len(reader) if len(picks) < len(reader) else None
    finally:
        reader.close()
    if not snapshots:
        raise RecordingError(f"{path}: the recording holds no snapshots, nothing to report")
    return History(snapshots=snapshots, events=events, meta=meta, name=Path(path).name,
                   skipped_note=note, recorded=recorded)
