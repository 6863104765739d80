"""RecordingWriter: appends snapshots and events to a `.raytop` file as they arrive.

One transaction per snapshot in WAL mode with synchronous=NORMAL: a commit is in the OS page cache
when ``snapshot()`` returns, so ``kill -9`` of this process loses nothing already written (only an
OS crash or power cut can lose the last commits). Readers may open the file at any time.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from raytop.model import Event, NodeStats, Plan, Snapshot, to_dict
from raytop.recording import codec
from raytop.recording import nodes as node_codec
from raytop.recording.errors import RecordingError
from raytop.recording.lock import create_locked, refuse_if_recording
from raytop.recording.schema import APPLICATION_ID, DDL, SCHEMA_VERSION, to_ns
from raytop.redact import redact_argv, redact_env, redact_plan, redact_text

# A new compression dictionary is seeded from the current snapshot when rows grow past
# 2x (+256 B) the best size seen with the current one, i.e. when the pipeline's shape changed.
_REBUILD_FACTOR = 2.0
_REBUILD_SLACK = 256
_REBUILD_MIN_ROWS = 10
_PLAN_CACHE_MAX = 64
# A dictionary is seeded with at most this much of a row: a 1,000-node keyframe is ~3 MB of JSON,
# and the keys and names that make a dictionary useful are all in its first part.
_DICT_MAX = 128 << 10
# Node table (nodes.py): each row's nodes are a patch against the previous row's, with a keyframe
# row (every node in full) every _KEYFRAME_ROWS rows (60 s at 1 Hz), so reading any row applies at
# most 59 patches; sooner when a patch grows past half the keyframe's node table (+1 KB).
_KEYFRAME_ROWS = 60
# From this many nodes on, per-node readings are kept at the resolution nodes.quantize states;
# below it every value is kept exactly (a small cluster's node table costs little).
_QUANTIZE_FROM_NODES = 64
_KEYFRAME_RATIO = 0.5
_KEYFRAME_SLACK = 1024


def utc_now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ray_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ray")
    except PackageNotFoundError:
        return None


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


def _redact_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key == "command" and isinstance(value, (list, tuple)):
            out[key] = redact_argv(value)
        elif key == "command" and isinstance(value, str):
            out[key] = " ".join(redact_argv(value.split()))
        elif key == "env" and isinstance(value, dict):
            out[key] = redact_env(value)
        else:
            out[key] = _redact_value(value)
    return out


class RecordingWriter:
    """Writes a recording; also a collector sink (``snapshot`` / ``event`` on the collector
    thread). Calls after ``close`` are ignored, so a late tick during shutdown is harmless."""

    def __init__(self, path, *, meta: dict, force: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._dict_id: int | None = None
        self._dict_len = 0
        self._compressor = codec.make_compressor(None)
        self._best_len: int | None = None
        self._rows_since_dict = 0
        self._plan_ids: dict[int, tuple] = {}  # id(Plan) -> (Plan, plan row id)
        self._plan_digests: dict[str, int] = {}
        self._nodes: _NodeState | None = None  # the previous row's nodes
        self.keyframes_written = 0
        self.snapshots_written = 0
        self.bytes_written = 0  # compressed snapshot payload, for measurements
        self._create_file(force)
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._conn.execute("BEGIN")
            for stmt in DDL:
                self._conn.execute(stmt)
            full = {"schema_version": SCHEMA_VERSION, "raytop_version": _raytop_version(),
                    "ray_version": _ray_version(), "command": [], "host": socket.gethostname(),
                    "started_utc": utc_now_iso(), "interval": None}
            full.update(_redact_meta(dict(meta)))
            full["schema_version"] = SCHEMA_VERSION
            self._put_meta(full)
            self._conn.execute("COMMIT")
        except BaseException as e:
            os.close(self._lock_fd)
            if isinstance(e, sqlite3.Error):
                raise RecordingError(f"cannot create recording {self.path}: {e}") from None
            raise
        self.meta = full

    def _create_file(self, force: bool) -> None:
        path = self.path
        if path.is_dir():
            raise RecordingError(f"cannot record to {path}: it is a directory")
        if not path.parent.is_dir():
            raise RecordingError(f"cannot record to {path}: directory {path.parent} does not exist")
        if path.exists() or path.is_symlink():
            if not force:
                raise RecordingError(f"{path} exists; pass --force to overwrite it")
            refuse_if_recording(path)
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    os.unlink(f"{path}{suffix}")
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise RecordingError(f"cannot overwrite {path}: {e.strerror}") from None
        try:  # O_EXCL: two writers racing for one path cannot both win
            self._lock_fd = create_locked(path)
        except FileExistsError:
            raise RecordingError(f"{path} exists; pass --force to overwrite it") from None
        except OSError as e:
            raise RecordingError(f"cannot create recording {path}: {e.strerror}") from None

    def _put_meta(self, items: dict[str, Any]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [(k, json.dumps(v, ensure_ascii=False, default=str)) for k, v in items.items()])

    # ---- sink API -----------------------------------------------------------------------

    def snapshot(self, snap: Snapshot) -> None:
        data, plans = codec.split_plans(dataclasses.replace(snap, nodes=()))
        del data["nodes"]
        nodes = snap.nodes
        head = codec.dumps(data)[:-1]  # the JSON object without its closing brace
        with self._lock:
            if self._closed:
                return
            saved = self._state()
            try:
                blob = self._insert_snapshot(snap.t, head, nodes, plans)
            except BaseException as e:
                # The dictionary and plan rows of this snapshot are rolled back: so must be what
                # the writer remembers of them, or later rows would point at rows that never were.
                self._rollback()
                self._restore(saved)
                if isinstance(e, sqlite3.Error):
                    raise RecordingError(f"cannot write to recording {self.path}: {e}") from None
                raise
            self.snapshots_written += 1
            self.bytes_written += len(blob)

    def _insert_snapshot(self, t: float, head: bytes, nodes: Sequence[NodeStats], plans) -> bytes:
        self._conn.execute("BEGIN")
        plan_ids = [self._plan_id(p) if p is not None else None for p in plans]
        raw, state = self._encode_nodes(head, nodes)
        blob = self._compress(raw, is_key=state.rows == 0 and bool(nodes))
        cur = self._conn.execute(
            "INSERT INTO snapshots (t_ns, dict_id, plan_ids, data, base_id) VALUES (?, ?, ?, ?, ?)",
            (to_ns(t), self._dict_id,
             codec.dumps(plan_ids).decode() if any(i is not None for i in plan_ids) else None,
             blob, state.row_id))
        self._conn.execute("COMMIT")
        self._nodes = state._replace(row_id=int(cur.lastrowid or 0))
        self.keyframes_written += state.rows == 0
        return blob

    def _encode_nodes(self, head: bytes, nodes: Sequence[NodeStats]) -> tuple[bytes, _NodeState]:
        """The row's JSON: a delta row (``node_patch`` against the previous row) when that is
        small enough, else a keyframe row (also for an empty node table: it needs no row
        before it); and what the next row is patched against (its
        ``row_id`` still the base's, None for a keyframe)."""
        prev = self._nodes
        dicts, flats, same = self._node_leaves(nodes)
        ids = [n.get("node_id") for n in dicts]
        if prev is not None and prev.rows < _KEYFRAME_ROWS and dicts:
            patch = node_codec.make_patch(prev.node_ids, prev.flats, dicts, flats, same)
            raw_patch = codec.dumps(patch)
            if len(raw_patch) <= _KEYFRAME_RATIO * prev.key_len + _KEYFRAME_SLACK:
                return head + b',"node_patch":' + raw_patch + b"}", _NodeState(
                    prev.row_id, ids, flats, prev.key_len, prev.rows + 1, tuple(nodes),
                    tuple(dicts))
        full = codec.dumps(dicts)
        return head + b',"nodes":' + full + b"}", _NodeState(
            None, ids, flats, len(full), 0, tuple(nodes), tuple(dicts))

    def _node_leaves(self, nodes: Sequence[NodeStats]) -> tuple[list, list, list[bool]]:
        """Each node's JSON, its flattened leaves, and whether it is the very object the
        previous row had under its id. The sources hand on a node they did not read again this
        tick as the same object; its JSON and leaves are the previous row's, neither rebuilt
        nor compared (at 1,000 nodes most are read every few seconds, not every tick)."""
        prev = self._nodes
        quantized = len(nodes) >= _QUANTIZE_FROM_NODES
        before: dict = {}
        if prev is not None and prev.quantized == quantized:
            before = {id(obj): k for k, obj in enumerate(prev.objs)}
        dicts, flats, same = [], [], []
        for node in nodes:
            k = before.get(id(node))
            if k is not None and prev is not None and prev.objs[k] is node:
                dicts.append(prev.dicts[k])
                flats.append(prev.flats[k])
                same.append(True)
                continue
            as_dict = to_dict(node)
            if quantized:
                as_dict = node_codec.quantize(as_dict)
            dicts.append(as_dict)
            flats.append(node_codec.flatten(as_dict))
            same.append(False)
        return dicts, flats, same

    def event(self, ev: Event) -> None:
        data = _redact_value(dict(ev.data)) if ev.data else None
        with self._lock:
            if self._closed:
                return
            try:
                self._conn.execute(
                    "INSERT INTO events (t_ns, kind, dataset_id, message, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (to_ns(ev.t), ev.kind, ev.dataset_id, redact_text(ev.message or ""),
                     codec.dumps(data).decode() if data is not None else None))
            except sqlite3.Error as e:
                raise RecordingError(f"cannot write to recording {self.path}: {e}") from None

    def close(self, exit_code: int | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.execute("BEGIN")
                self._put_meta({"ended_utc": utc_now_iso(), "exit_code": exit_code})
                self._conn.execute("COMMIT")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                try:  # back to one file; fails harmlessly while a reader holds it open
                    self._conn.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.OperationalError:
                    pass
            except sqlite3.Error as e:
                raise RecordingError(f"cannot finish recording {self.path}: {e}") from None
            finally:
                self._conn.close()
                os.close(self._lock_fd)  # after SQLite let go of the file: see lock.py

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- internals (called with the lock held, inside a transaction) --------------------

    def _state(self) -> tuple:
        """What a snapshot's transaction may change in memory (the plan maps are small)."""
        return (self._dict_id, self._dict_len, self._compressor, self._best_len,
                self._rows_since_dict, dict(self._plan_ids), dict(self._plan_digests), self._nodes)

    def _restore(self, state: tuple) -> None:
        (self._dict_id, self._dict_len, self._compressor, self._best_len,
         self._rows_since_dict, self._plan_ids, self._plan_digests, self._nodes) = state

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _compress(self, raw: bytes, is_key: bool) -> bytes:
        """``raw`` compressed; a keyframe row (its whole node table) is far larger than the rows
        around it by nature, so it neither seeds a dictionary nor sets or breaks the size baseline
        of delta rows: the dictionary is for them."""
        if is_key and self._dict_id is None:
            return codec.make_compressor(None).compress(raw)
        blob = self._compressor.compress(raw)
        self._rows_since_dict += 1
        grown = not is_key and self._best_len is not None and \
            len(blob) > _REBUILD_FACTOR * self._best_len + _REBUILD_SLACK
        seed_too_small = not is_key and min(len(raw), _DICT_MAX) > 2 * self._dict_len + 1024
        if self._dict_id is None or seed_too_small or (
                grown and self._rows_since_dict >= _REBUILD_MIN_ROWS):
            seed = raw[:_DICT_MAX]
            cur = self._conn.execute("INSERT INTO dicts (data) VALUES (?)",
                                     (codec.make_compressor(None).compress(seed),))
            self._dict_id = cur.lastrowid
            self._dict_len = len(seed)
            self._compressor = codec.make_compressor(seed)
            self._best_len = None  # the seed row itself compresses to nothing: not a baseline
            self._rows_since_dict = 0
            return self._compressor.compress(raw)
        if not is_key and self._rows_since_dict > 0 and (
                self._best_len is None or len(blob) < self._best_len):
            self._best_len = len(blob)
        return blob

    def _plan_id(self, plan: Plan) -> int:
        hit = self._plan_ids.get(id(plan))
        if hit is not None and hit[0] is plan:
            return hit[1]
        digest, raw = codec.plan_bytes(redact_plan(plan))
        plan_id = self._plan_digests.get(digest)
        if plan_id is None:
            cur = self._conn.execute("INSERT INTO plans (digest, data) VALUES (?, ?)",
                                     (digest, codec.make_compressor(None).compress(raw)))
            plan_id = self._plan_digests[digest] = int(cur.lastrowid or 0)
        if len(self._plan_ids) >= _PLAN_CACHE_MAX:
            self._plan_ids.clear()
        self._plan_ids[id(plan)] = (plan, plan_id)
        return plan_id


class _NodeState(NamedTuple):
    """The nodes of the last row written: its id, its nodes' ids and flattened JSON (what the
    next row is patched against), the size of the last keyframe's node table, and how many delta
    rows follow that keyframe (0: this row is the keyframe)."""

    row_id: int | None
    node_ids: list
    flats: list
    key_len: int
    rows: int
    objs: tuple = ()  # the row's NodeStats objects, and their JSON (at the row's resolution)
    dicts: tuple = ()

    @property
    def quantized(self) -> bool:
        return len(self.objs) >= _QUANTIZE_FROM_NODES


def _raytop_version() -> str:
    from raytop import __version__
    return __version__
