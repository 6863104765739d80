"""A recording loaded whole for reporting: metadata, snapshots in time order, events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytop.model import Event, Snapshot


@dataclass(frozen=True)
class History:
    snapshots: tuple[Snapshot, ...]
    events: tuple[Event, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""  # the recording's file name, shown in the report
    skipped_note: str | None = None  # how many unreadable snapshots were left out, if any


def load_history(path: Path) -> History:
    """Read a whole recording; ``RecordingError`` for a bad file or one without snapshots."""
    from raytop.recording import RecordingError, RecordingReader

    reader = RecordingReader(path)
    try:
        snapshots = tuple(reader.iter_snapshots())
        events = tuple(sorted(reader.events(), key=lambda e: e.t))
        meta = dict(reader.meta)
        note = reader.skipped_note()
    finally:
        reader.close()
    if not snapshots:
        raise RecordingError(f"{path}: the recording holds no snapshots, nothing to report")
    return History(snapshots=snapshots, events=events, meta=meta, name=Path(path).name,
                   skipped_note=note)
