"""RecordingReader: opens a `.raytop` file, checks it, seeks by time, decodes snapshots.

Thread-safe: one SQLite connection behind a lock; decoded snapshots are frozen and shared through a
small LRU cache. The connection is ``query_only``: reading never changes a recording's content, also
while its writer is still running.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import os
import sqlite3
import sys
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import zstandard

from raytop.model import Event, NodeStats, Plan, Snapshot, from_dict, snapshot_from_dict
from raytop.recording import codec
from raytop.recording import nodes as node_codec
from raytop.recording.checks import check_file, clean_meta, harden, inflate, require_tables
from raytop.recording.errors import RecordingError
from raytop.recording.schema import MIGRATIONS, OLDEST_READ_IN_PLACE, SCHEMA_VERSION, to_ns

_CACHE_SIZE = 128
_NODE_STATES = 4  # rows whose flattened nodes are kept, for the delta rows that follow them
_MAX_CHAIN = 100_000  # a hostile file's chain of delta rows must end
_FETCH_CHUNK = 256


# What decoding hostile or damaged bytes can raise (deep JSON nesting: RecursionError).
_UNDECODABLE = (zstandard.ZstdError, ValueError, TypeError, KeyError, AttributeError, IndexError,
                RecursionError, OverflowError)


def _references_resolve(dict_id, plan_ids, dicts: set[int], plans: set[int]) -> bool:
    if dict_id is not None and dict_id not in dicts:
        return False
    if plan_ids is None:
        return True
    try:
        ids = codec.loads(plan_ids)
    except (ValueError, TypeError, RecursionError):
        return False
    return isinstance(ids, list) and all(p is None or (type(p) is int and p in plans) for p in ids)


def _event(t_ns: int, kind, dataset_id, message, data) -> Event:
    try:
        payload = codec.loads(data) if data else {}
    except (ValueError, TypeError, RecursionError):
        payload = {}
    return Event(t=t_ns / 1e9, kind=str(kind), message=str(message or ""),
                 dataset_id=None if dataset_id is None else str(dataset_id),
                 data=payload if isinstance(payload, dict) else {})


def _node(flat: dict) -> NodeStats:
    return from_dict(NodeStats, node_codec.unflatten(flat))


def print_skipped(reader: RecordingReader) -> None:
    """One line on stderr when ``reader`` skipped unreadable snapshots."""
    note = reader.skipped_note()
    if note:
        print(f"raytop: {note}", file=sys.stderr)


# SQLite reports a damaged schema with its text in the message; when that text is not UTF-8,
# Python raises UnicodeDecodeError in place of the sqlite3 error.
_SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)


def _friendly(p: Path, e: Exception) -> RecordingError:
    if isinstance(e, UnicodeDecodeError):
        return RecordingError(f"{p} is truncated or corrupt (damaged text in the database)")
    msg = str(e)
    if "not a database" in msg or "file is encrypted" in msg:
        return RecordingError(f"{p} is not a raytop recording (not an SQLite database)")
    if "no such table" in msg or "no such column" in msg:
        return RecordingError(f"{p} is not a raytop recording (no raytop tables)")
    if "malformed" in msg or "corrupt" in msg or "disk I/O" in msg:
        return RecordingError(f"{p} is truncated or corrupt ({msg})")
    return RecordingError(f"cannot read recording {p}: {msg}")


class RecordingReader:
    def __init__(self, path):
        self.path = Path(path)
        check_file(self.path)
        self._lock = threading.RLock()
        self._ids: list[int] = []
        self._ns: list[int] = []
        self._cache: OrderedDict[int, Snapshot] = OrderedDict()
        self._plans: dict[int, Plan] = {}
        self._dicts: dict[int | None, zstandard.ZstdDecompressor] = {}
        self._node_states: OrderedDict[int, tuple] = OrderedDict()
        self._base_column = "base_id"
        self._max_row_id = 0
        self._index_skipped = 0  # rows that point at a dictionary or plan that is not there
        self._bad: set[int] = set()  # row ids whose data turned out undecodable
        self.meta: dict = {}
        try:
            self._conn = self._connect()
            require_tables(self._conn, self.path, ("meta",))
            self._load_meta()
            version = self.meta.get("schema_version")
            if not isinstance(version, int):
                raise RecordingError(f"{self.path} is not a raytop recording (no schema version)")
            if version > SCHEMA_VERSION:
                raise RecordingError(
                    f"recording schema {version} is newer than this raytop supports "
                    f"({SCHEMA_VERSION}); upgrade raytop")
            if version < OLDEST_READ_IN_PLACE:
                self._migrate(version)
            require_tables(self._conn, self.path, ("snapshots", "plans", "dicts", "events"))
            self._find_base_column()
            self._load_index()
            if self._ids:  # a bad tail shows up here rather than mid-replay
                self.snapshot(len(self._ids) - 1)
            elif self._index_skipped:
                raise RecordingError(
                    f"{self.path} is truncated or corrupt (no readable snapshot in it)")
        except _SQLITE_ERRORS as e:
            self._close_quietly()
            raise _friendly(self.path, e) from None
        except RecordingError:
            self._close_quietly()
            raise

    def _connect(self) -> sqlite3.Connection:
        """Read-write when the OS allows it, yet ``query_only``: the last connection to close a
        WAL-mode file folds the WAL back in and removes ``-wal``/``-shm``, which a read-only
        connection cannot do (it would leave them behind after a live replay or a kill -9)."""
        base = "file:" + urllib.parse.quote(os.path.abspath(self.path))
        for mode in ("rw", "ro"):
            conn = sqlite3.connect(f"{base}?mode={mode}", uri=True, check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only=1")
                harden(conn)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
                if mode == "ro":
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _load_meta(self) -> None:
        rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        meta = {}
        for key, value in rows:
            try:
                meta[key] = codec.loads(value)
            except (ValueError, TypeError, RecursionError):
                meta[key] = value
        self.meta = clean_meta(meta)

    def _migrate(self, version: int) -> None:
        """Upgrade an older recording on an in-memory copy; the file itself is left alone."""
        mem = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.backup(mem)
        self._conn.close()
        self._conn = mem
        while version < OLDEST_READ_IN_PLACE:
            step = MIGRATIONS.get(version)
            if step is None:
                raise RecordingError(
                    f"recording schema {version} is too old for this raytop "
                    f"({SCHEMA_VERSION}) and cannot be migrated")
            step(mem)
            self._load_meta()
            new = self.meta.get("schema_version")
            if not isinstance(new, int) or new <= version:
                raise RecordingError(f"migration of recording schema {version} failed")
            version = new

    def _find_base_column(self) -> None:
        """Schema 1 has no ``base_id``: every row of it is a keyframe."""
        columns = {row[1] for row in self._conn.execute('PRAGMA table_info("snapshots")')}
        self._base_column = "base_id" if "base_id" in columns else "NULL"

    def _load_index(self) -> None:
        """Index the snapshots written since the last call, skipping (and counting) those whose
        dictionary or plan rows are missing: they can never be decoded."""
        rows = self._conn.execute(
            "SELECT id, t_ns, dict_id, plan_ids FROM snapshots WHERE id > ? ORDER BY t_ns, id",
            (self._max_row_id,)).fetchall()
        # Read after the snapshots: a live writer commits a snapshot with its dictionary and plan
        # rows, so these sets hold at least every row the snapshots above can point at.
        dicts = {r[0] for r in self._conn.execute("SELECT id FROM dicts")}
        plans = {r[0] for r in self._conn.execute("SELECT id FROM plans")}
        good = []
        for row_id, t_ns, dict_id, plan_ids in rows:
            self._max_row_id = max(self._max_row_id, row_id)
            if type(t_ns) is int and _references_resolve(dict_id, plan_ids, dicts, plans):
                good.append((row_id, t_ns))
            else:
                self._index_skipped += 1
        if not good:
            return
        if not self._ns or good[0][1] >= self._ns[-1]:
            self._ids.extend(r[0] for r in good)
            self._ns.extend(r[1] for r in good)
        else:  # a clock step backwards: keep times ascending
            merged = sorted(list(zip(self._ns, self._ids, strict=True)) + [(r[1], r[0]) for r in good])
            self._ns = [m[0] for m in merged]
            self._ids = [m[1] for m in merged]
            self._cache.clear()

    # ---- public API ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def times(self) -> list[float]:
        with self._lock:
            return [ns / 1e9 for ns in self._ns]

    def index_at(self, t: float) -> int:
        """The last snapshot at or before ``t``; 0 when ``t`` is before the first one."""
        with self._lock:
            return max(0, bisect.bisect_right(self._ns, to_ns(t)) - 1)

    @property
    def skipped(self) -> int:
        """Snapshots that cannot be decoded: counted when the file is opened (missing rows they
        point at) or when first read (corrupt data). They are never returned."""
        return self._index_skipped + len(self._bad)

    @property
    def total(self) -> int:
        """Snapshot rows in the file, readable or not."""
        return len(self._ids) + self._index_skipped

    def skipped_note(self) -> str | None:
        if not self.skipped:
            return None
        return (f"{self.path}: {self.skipped} of {self.total} snapshots are unreadable and "
                "were skipped")

    def snapshot(self, i: int) -> Snapshot:
        """Snapshot ``i``; when that one is unreadable, the nearest readable one before it
        (after it when there is none before), so that positions stay stable for a replay."""
        with self._lock:
            n = len(self._ids)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"snapshot {i} out of range (recording has {n})")
            snap = self._readable(i)
            if snap is None:
                snap = self._nearest_readable(i)
            return snap

    def _readable(self, i: int) -> Snapshot | None:
        """Snapshot ``i`` decoded (from the cache when there), or None if it cannot be."""
        row_id = self._ids[i]
        if row_id in self._bad:
            return None
        snap = self._cache.get(row_id)
        if snap is not None:
            self._cache.move_to_end(row_id)
            return snap
        try:
            row = self._conn.execute(
                f"SELECT dict_id, plan_ids, data, {self._base_column} FROM snapshots WHERE id = ?",
                (row_id,)).fetchone()
            if row is None:
                raise RecordingError(f"{self.path} is truncated or corrupt (snapshot {i} missing)")
            snap = self._decode(i, row_id, *row)
        except _SQLITE_ERRORS as e:
            raise _friendly(self.path, e) from None
        except RecordingError:
            self._bad.add(row_id)
            return None
        self._cache[row_id] = snap
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return snap

    def _nearest_readable(self, i: int) -> Snapshot:
        for j in itertools.chain(range(i - 1, -1, -1), range(i + 1, len(self._ids))):
            snap = self._readable(j)
            if snap is not None:
                return snap
        raise RecordingError(f"{self.path} is truncated or corrupt (no readable snapshot in it)")

    def snapshot_at(self, t: float) -> Snapshot:
        return self.snapshot(self.index_at(t))

    def iter_snapshots(self, start: float | None = None,
                       end: float | None = None) -> Iterator[Snapshot]:
        """Snapshots with ``start <= t <= end`` (either bound optional), in time order."""
        with self._lock:
            lo = 0 if start is None else bisect.bisect_left(self._ns, to_ns(start))
            hi = len(self._ns) if end is None else bisect.bisect_right(self._ns, to_ns(end))
        for i in range(lo, hi):
            with self._lock:
                snap = self._readable(i)
            if snap is not None:
                yield snap

    def keyframe_indices(self) -> list[int]:
        """Indices of the snapshots that decode without the rows before them (every one in a
        schema 1 file)."""
        with self._lock:
            if self._base_column == "NULL":
                return list(range(len(self._ids)))
            try:
                keys = {r[0] for r in self._conn.execute(
                    "SELECT id FROM snapshots WHERE base_id IS NULL")}
            except _SQLITE_ERRORS as e:
                raise _friendly(self.path, e) from None
            return [i for i, row_id in enumerate(self._ids) if row_id in keys]

    def iter_indices(self, indices: Iterator[int] | list[int]) -> Iterator[Snapshot]:
        """The readable snapshots among those at ``indices`` (ascending: each delta row's nodes
        are then patched onto the last one read)."""
        for i in indices:
            with self._lock:
                snap = self._readable(i)
            if snap is not None:
                yield snap

    def events(self) -> list[Event]:
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT t_ns, kind, dataset_id, message, data FROM events"
                    " WHERE typeof(t_ns) = 'integer' ORDER BY t_ns, id").fetchall()
            except _SQLITE_ERRORS as e:
                raise _friendly(self.path, e) from None
        return [_event(*row) for row in rows]

    def refresh(self) -> None:
        """Pick up snapshots, events and meta (``ended_utc``, ``exit_code``) written since."""
        with self._lock:
            try:
                self._load_meta()
                self._load_index()
            except _SQLITE_ERRORS as e:
                raise _friendly(self.path, e) from None

    def close(self) -> None:
        with self._lock:
            self._close_quietly()
            self._cache.clear()
            self._node_states.clear()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- decoding -----------------------------------------------------------------------

    def _decode(self, i: int, row_id: int, dict_id: int | None, plan_ids: str | None,
                data: bytes, base_id: int | None) -> Snapshot:
        try:
            fields = codec.loads(inflate(self._decompressor(dict_id), data))
            patch = fields.pop("node_patch", None) if isinstance(fields, dict) else None
            snap = snapshot_from_dict(fields)
            if patch is not None:
                flats, nodes = self._patched_nodes(base_id, patch)
                snap = dataclasses.replace(snap, nodes=nodes)
                self._remember(row_id, (flats, nodes))
            elif self._base_column != "NULL":  # a keyframe: the next rows are patched against it
                self._remember(row_id, ([node_codec.flatten(n) for n in fields["nodes"]],
                                        snap.nodes))
            if plan_ids:
                snap = codec.join_plans(
                    snap, [self._plan(p) if p is not None else None for p in codec.loads(plan_ids)])
        except _UNDECODABLE as e:
            raise RecordingError(
                f"{self.path} is truncated or corrupt (snapshot {i} unreadable: {e})") from None
        return snap

    def _patched_nodes(self, base_id: int | None, patch) -> tuple[list, tuple[NodeStats, ...]]:
        """The nodes of a delta row: its patch applied to the nodes of the row before it. Nodes
        that did not change are the previous row's very objects (a report holds thousands of
        snapshots: unchanged nodes cost nothing)."""
        prev_flats, prev_nodes = self._node_state(base_id)
        flats, changed = node_codec.apply_patch(prev_flats, patch)
        if prev_nodes is None:
            changed = [True] * len(flats)
        nodes = tuple(_node(flat) if changed[pos] else prev_nodes[pos]  # type: ignore[index]
                      for pos, flat in enumerate(flats))
        return flats, nodes

    def _node_state(self, row_id: int | None) -> tuple[list, tuple[NodeStats, ...] | None]:
        """(flattened nodes, decoded nodes or None) of row ``row_id``: from the cache, else
        rebuilt from its keyframe through the patches of the rows in between."""
        chain: list = []
        state = None
        first = row_id
        while state is None:
            if type(row_id) is not int or (chain and row_id >= chain[-1][0]) or \
                    len(chain) > _MAX_CHAIN:
                raise ValueError("a delta row without a keyframe before it")
            state = self._node_states.get(row_id)
            if state is not None:
                self._node_states.move_to_end(row_id)
                break
            row = self._conn.execute(
                f"SELECT dict_id, data, {self._base_column} FROM snapshots WHERE id = ?",
                (row_id,)).fetchone()
            if row is None:
                raise KeyError(f"snapshot row {row_id} missing")
            fields = codec.loads(inflate(self._decompressor(row[0]), row[1]))
            if row[2] is None:
                state = ([node_codec.flatten(n) for n in fields["nodes"]], None)
                break
            chain.append((row_id, fields["node_patch"]))
            row_id = row[2]
        for _, patch in reversed(chain):
            state = (node_codec.apply_patch(state[0], patch)[0], None)
        self._remember(first, state)  # type: ignore[arg-type]
        return state

    def _remember(self, row_id: int, state: tuple) -> None:
        self._node_states[row_id] = state
        if len(self._node_states) > _NODE_STATES:
            self._node_states.popitem(last=False)

    def _decompressor(self, dict_id: int | None) -> zstandard.ZstdDecompressor:
        d = self._dicts.get(dict_id)
        if d is None:
            seed = None
            if dict_id is not None:
                row = self._conn.execute("SELECT data FROM dicts WHERE id = ?",
                                         (dict_id,)).fetchone()
                if row is None:
                    raise KeyError(f"compression dictionary {dict_id} missing")
                seed = inflate(zstandard.ZstdDecompressor(), row[0])
            d = self._dicts[dict_id] = codec.make_decompressor(seed)
        return d

    def _plan(self, plan_id: int) -> Plan:
        plan = self._plans.get(plan_id)
        if plan is None:
            row = self._conn.execute("SELECT data FROM plans WHERE id = ?", (plan_id,)).fetchone()
            if row is None:
                raise KeyError(f"plan {plan_id} missing")
            plan = self._plans[plan_id] = codec.plan_from_bytes(
                inflate(zstandard.ZstdDecompressor(), row[0]))
        return plan
