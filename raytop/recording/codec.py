"""Snapshot <-> row bytes: compact JSON, plans split out, zstd with a raw-content dictionary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import zstandard

from raytop.model import Plan, Snapshot, from_dict, to_dict

ZSTD_LEVEL = 9  # a snapshot is ~10 KB of JSON: level 9 costs well under a millisecond


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return json.loads(data)


def split_plans(snap: Snapshot) -> tuple[dict, list[Plan | None]]:
    """``to_dict(snap)`` with every dataset's plan set to None, and the plans in dataset order."""
    plans = [ds.plan for ds in snap.datasets]
    if any(p is not None for p in plans):
        snap = dataclasses.replace(
            snap, datasets=tuple(dataclasses.replace(ds, plan=None) for ds in snap.datasets))
    return to_dict(snap), plans


def plan_bytes(plan: Plan) -> tuple[str, bytes]:
    """(sha256 digest, canonical JSON) of a plan, for storing each distinct plan once."""
    raw = json.dumps(to_dict(plan), sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest(), raw


def plan_from_bytes(raw: bytes) -> Plan:
    return from_dict(Plan, loads(raw))


def join_plans(snap: Snapshot, plans: Sequence[Plan | None]) -> Snapshot:
    if not any(p is not None for p in plans):
        return snap
    datasets = tuple(
        dataclasses.replace(ds, plan=plans[i]) if i < len(plans) and plans[i] is not None else ds
        for i, ds in enumerate(snap.datasets))
    return dataclasses.replace(snap, datasets=datasets)


def make_compressor(dict_data: bytes | None) -> zstandard.ZstdCompressor:
    if dict_data is None:
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_dict_id=False)
    d = zstandard.ZstdCompressionDict(dict_data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=d, write_dict_id=False)


def make_decompressor(dict_data: bytes | None) -> zstandard.ZstdDecompressor:
    if dict_data is None:
        return zstandard.ZstdDecompressor()
    d = zstandard.ZstdCompressionDict(dict_data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=d)
