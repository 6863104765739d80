"""Recording size and seek: a synthetic one-hour recording (recording_size.PipelineSim, heavier
than the demo: 3 datasets x 8 operators), plus the bytes of real demo recordings when the job
runs made some."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import recording_size
from benchmarks.common import Measurement, median, skipped

GROUP = "recording"


def run(quick: bool, demo_recordings: list[Path] | None = None) -> list[Measurement]:
    seconds = 600 if quick else 3600
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        m = recording_size.measure(seconds, Path(tmp) / "hour.raytop")
    span = "one hour" if seconds == 3600 else f"{seconds // 60} min (--quick)"
    detail = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items()
              if k != "seek_ms"}
    detail["seek_ms"] = [round(v, 2) for v in m["seek_ms"]]
    out = [
        Measurement("recording_mb_per_hour_synthetic", GROUP,
                    f"MB per hour at 1 Hz, synthetic {m['operators']} operators", "MB",
                    round(m["mb_per_hour"], 3), 5.0,
                    note=f"{m['bytes_per_snapshot']:.0f} B/snapshot over {span}", detail=detail),
        Measurement("recording_open_seek_ms", GROUP, f"open + seek in a {span} recording (median)",
                    "ms", round(median(m["seek_ms"]), 2), 200.0,
                    note=f"max {max(m['seek_ms']):.1f} ms", detail=detail),
    ]
    out.append(_demo(demo_recordings))
    return out


def hour_from_real_rows(path: Path, tmp: Path) -> tuple:
    """The file size of a one-hour recording made of this recording's own snapshot rows: a copy
    extended to 3,600 rows by repeating its rows 1 s apart (a short run's file is mostly SQLite
    pages and the zstd dictionary, which a long run pays once). Returns (bytes, rows, median row)."""
    import shutil
    import sqlite3
    import statistics

    copy = tmp / path.name
    shutil.copy2(path, copy)
    conn = sqlite3.connect(copy)
    try:
        rows = conn.execute(
            "SELECT t_ns, dict_id, plan_ids, data, base_id FROM snapshots ORDER BY t_ns").fetchall()
        if not rows:
            return None, 0, None
        last = rows[-1][0]
        extra = [(last + (k + 1) * 1_000_000_000,) + rows[k % len(rows)][1:]
                 for k in range(max(0, 3600 - len(rows)))]
        conn.executemany("INSERT INTO snapshots (t_ns, dict_id, plan_ids, data, base_id)"
                         " VALUES (?, ?, ?, ?, ?)", extra)
        conn.commit()
    finally:
        conn.close()
    median_row = statistics.median(len(r[3]) + len(r[2] or "") for r in rows)
    return copy.stat().st_size, len(rows), median_row


def _demo(paths: list[Path] | None) -> Measurement:
    """Real `raytop run` recordings of the demo at 1 Hz, grown to an hour of their own rows."""
    label = "MB per hour at 1 Hz, real demo rows"
    paths = [p for p in (paths or []) if p.exists()]
    if not paths:
        return skipped("recording_mb_per_hour_demo", GROUP, label, "MB", 5.0,
                       "no demo recording (the job runs were skipped)")
    sizes, details = [], []
    with tempfile.TemporaryDirectory(prefix="raytop-bench-") as tmp:
        for p in paths:
            size, n, median_row = hour_from_real_rows(p, Path(tmp))
            if size is not None:
                sizes.append(size)
                details.append({"snapshots": n, "median_row_bytes": median_row,
                                "file_bytes": p.stat().st_size, "hour_bytes": size})
    if not sizes:
        return skipped("recording_mb_per_hour_demo", GROUP, label, "MB", 5.0,
                       "the demo recordings hold no snapshots")
    mb = median(sizes) / 1e6
    return Measurement("recording_mb_per_hour_demo", GROUP, label, "MB", round(mb, 3), 5.0,
                       note=(f"{details[0]['snapshots']} real snapshots, median row "
                             f"{details[0]['median_row_bytes']:.0f} B, repeated to 3,600"),
                       detail={"recordings": details})
