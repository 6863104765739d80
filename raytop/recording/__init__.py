"""The `.raytop` recording format: SQLite, one zstd-compressed snapshot per row (docs/recording.md)."""

from raytop.recording.errors import RecordingError
from raytop.recording.export import export_jsonl
from raytop.recording.reader import RecordingReader
from raytop.recording.schema import SCHEMA_VERSION
from raytop.recording.writer import RecordingWriter

__all__ = ["RecordingError", "RecordingReader", "RecordingWriter", "SCHEMA_VERSION", "export_jsonl"]
