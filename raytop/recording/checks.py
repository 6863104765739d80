"""Checks that keep a hostile or damaged recording from hanging raytop, exhausting its memory or
escaping as anything but a one-line ``RecordingError``: a recording may come from anywhere."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zstandard

from raytop.recording.errors import RecordingError

_SQLITE_MAGIC = b"SQLite format 3\x00"
# A snapshot is ~10 KB of JSON, a big cluster's a few MB: far more is a decompression bomb.
MAX_DECODED_BYTES = 64 << 20
# SQLite's own limit on one string or blob (and so on any computed value) while reading.
MAX_SQLITE_VALUE = 256 << 20
_SIDECARS = ("-wal", "-shm", "-journal")
# The meta values the writer sets and the type each must have; others are dropped on read.
_META_TYPES: dict[str, type | tuple[type, ...]] = {
    "schema_version": int, "raytop_version": str, "ray_version": str, "host": str,
    "started_utc": str, "ended_utc": str, "interval": (int, float),
    "exit_code": int, "env": dict, "stall_after": (int, float)}


def check_file(p: Path) -> None:
    """One-line errors for what SQLite would report obscurely, or not at all (a FIFO or a device
    would block or never end)."""
    if not os.path.lexists(p):
        raise RecordingError(f"recording not found: {p}")
    if p.is_dir():
        raise RecordingError(f"{p} is a directory, not a raytop recording")
    size, header = _read_header(p)
    for suffix in _SIDECARS:
        _check_sidecar(Path(f"{p}{suffix}"))
    wal = Path(f"{p}-wal")
    live_wal = wal.exists() and wal.stat().st_size > 0
    if size == 0:
        if live_wal:  # a writer that just started: everything is still in the WAL
            return
        raise RecordingError(f"{p} is empty, not a raytop recording")
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise RecordingError(f"{p} is not a raytop recording (not an SQLite database)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96] and page_count > 0
    if live_wal or not header_valid:
        return  # the WAL holds newer pages than the header describes; SQLite will judge
    if page_size < 512 or size % page_size or size < page_count * page_size:
        raise RecordingError(
            f"{p} is truncated or corrupt ({size} bytes, its header says "
            f"{page_count * page_size})")


def _read_header(p: Path):
    """(size, first 100 bytes) of a regular file; opened non-blocking so a FIFO cannot hang us."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RecordingError(f"recording not found: {p}") from None
    except OSError as e:
        raise RecordingError(f"cannot read {p}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RecordingError(f"{p} is not a regular file, not a raytop recording")
        return st.st_size, os.pread(fd, 100, 0)
    except OSError as e:
        raise RecordingError(f"cannot read {p}: {e.strerror}") from None
    finally:
        os.close(fd)


def _check_sidecar(side: Path) -> None:
    """SQLite opens ``-wal``/``-shm``/``-journal`` itself: a FIFO there would block it."""
    try:
        st = os.stat(side)
    except FileNotFoundError:
        return
    except OSError as e:
        raise RecordingError(f"cannot read {side}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RecordingError(f"{side} is not a regular file; move it away to read the recording")


def harden(conn: sqlite3.Connection) -> None:
    """Nothing in the file's schema may run code with side effects, no value read may be huge,
    and text that is not UTF-8 reads as text."""
    conn.execute("PRAGMA trusted_schema=OFF")
    setlimit = getattr(conn, "setlimit", None)  # Python >= 3.11; the decompression cap holds anyway
    if setlimit is not None:
        setlimit(getattr(sqlite3, "SQLITE_LIMIT_LENGTH", 0), MAX_SQLITE_VALUE)
    conn.text_factory = _text  # damaged TEXT would otherwise raise UnicodeDecodeError


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def require_tables(conn: sqlite3.Connection, p: Path, names: Iterable[str]) -> None:
    """Each of ``names`` must be a plain table: a VIEW (a recursive one never ends), a virtual
    table or computed columns would run queries of the file's choosing."""
    for name in names:
        row = conn.execute("SELECT type, sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise RecordingError(f"{p} is not a raytop recording (no raytop tables)")
        kind, sql = row
        if kind != "table" or str(sql or "").lstrip().upper().startswith("CREATE VIRTUAL"):
            what = "a virtual table" if kind == "table" else f"a {kind}"
            raise RecordingError(f"{p} is not a raytop recording ({name} is {what}, not a table)")
        columns = conn.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
        if any(col[6] not in (0, 1) for col in columns):  # 2, 3: generated columns
            raise RecordingError(f"{p} is not a raytop recording ({name} has computed columns)")


def inflate(dctx: zstandard.ZstdDecompressor, data: bytes) -> bytes:
    """Decompress one zstd frame, refusing to produce more than ``MAX_DECODED_BYTES``. A frame
    that declares its size is checked before any memory is taken; one that does not is streamed
    with the cap (``decompress``'s ``max_output_size`` is ignored when the size is declared)."""
    declared = zstandard.frame_content_size(data)
    if declared > MAX_DECODED_BYTES:
        raise ValueError(f"it would decompress to {declared} bytes")
    if declared >= 0:
        return dctx.decompress(data)
    chunks, total = [], 0
    with dctx.stream_reader(data) as reader:
        while total <= MAX_DECODED_BYTES:
            chunk = reader.read(MAX_DECODED_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > MAX_DECODED_BYTES:
        raise ValueError(f"it decompresses to more than {MAX_DECODED_BYTES} bytes")
    return b"".join(chunks)


def clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without values of the wrong type for the keys raytop uses."""
    out = {}
    for key, value in meta.items():
        if not isinstance(key, str):
            continue
        want = _META_TYPES.get(key)
        if key == "command" and not _is_command(value):
            continue
        if want is not None and value is not None and (
                not isinstance(value, want) or isinstance(value, bool)):
            continue
        out[key] = value
    return out


def _is_command(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(a, str) for a in value)
