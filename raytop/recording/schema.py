"""The `.raytop` SQLite schema, its version, the row encoding and the migration hook.

Tables (docs/recording.md has the full description):
  meta      key TEXT PRIMARY KEY, value TEXT (JSON)
  snapshots id, t_ns (indexed), dict_id -> dicts.id or NULL, plan_ids (JSON list aligned with the
            snapshot's datasets, NULL when none has a plan), data (zstd JSON of model.to_dict,
            every DatasetStats.plan set to null; in a delta row ``nodes`` is replaced by
            ``node_patch``, see nodes.py), base_id (schema 2: the keyframe row a delta row's
            nodes are patched against; NULL in a keyframe row)
  plans     id, digest (sha256 of the canonical plan JSON, unique), data (zstd JSON of the Plan)
  dicts     id, data (zstd of a raw-content zstd dictionary: the JSON of a seed snapshot)
  events    id, t_ns (indexed), kind, dataset_id, message, data (JSON)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 2
# Schema 1 is schema 2 without delta rows (no base_id column, every row a keyframe): the reader
# reads it in place, no migration needed.
OLDEST_READ_IN_PLACE = 1

# PRAGMA application_id: b"rytp". Lets `file` and raytop recognise a recording cheaply.
APPLICATION_ID = 0x72797470

DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS plans (id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE,"
    " data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL,"
    " dict_id INTEGER REFERENCES dicts(id), plan_ids TEXT, data BLOB NOT NULL,"
    " base_id INTEGER REFERENCES snapshots(id))",
    "CREATE INDEX IF NOT EXISTS snapshots_t_ns ON snapshots (t_ns)",
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, t_ns INTEGER NOT NULL,"
    " kind TEXT NOT NULL, dataset_id TEXT, message TEXT NOT NULL DEFAULT '', data TEXT)",
    "CREATE INDEX IF NOT EXISTS events_t_ns ON events (t_ns)",
)

# The meta keys the writer always sets (value JSON; None -> null).
META_KEYS = ("schema_version", "raytop_version", "ray_version", "command", "host",
             "started_utc", "interval")


def to_ns(t: float) -> int:
    """Unix seconds -> the t_ns column. Rounded to whole microseconds so that
    ``to_ns(t_ns / 1e9) == t_ns`` holds for every stored value (a float near 1.7e9 s carries
    ~0.24 us of precision), which keeps seek-by-time exact for times read back from ``times()``."""
    return int(round(t * 1e6)) * 1000


# Migration hook: MIGRATIONS[v](conn) upgrades a recording of schema v to v + 1 in place and
# sets meta.schema_version. The reader runs them on an in-memory copy, never on the user's file.
Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, Migration] = {}
