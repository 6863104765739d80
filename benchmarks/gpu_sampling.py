"""CPU cost of sampling every GPU through raytop's NVML source every 100 ms.

    python benchmarks/gpu_sampling.py [SECONDS]

Prints the share of one core used by the sampling loop (process CPU time / wall time) and the
median time of one read. Needs an NVIDIA GPU; prints the reason and exits 0 otherwise.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from raytop.sources.base import SourceAbsent
from raytop.sources.gpu import GpuSource


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    src = GpuSource()
    try:
        src.read()
    except SourceAbsent as e:
        print(json.dumps({"skipped": str(e)}))
        return
    reads = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    next_due = wall0
    while time.monotonic() - wall0 < seconds:
        t = time.perf_counter()
        part = src.read()
        reads.append(time.perf_counter() - t)
        next_due += 0.1
        time.sleep(max(0.0, next_due - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    gpus = len(part.overlays[0].gpus)
    out = {"gpus": gpus, "samples": len(reads), "interval_s": 0.1,
           "cpu_percent_of_one_core": round(100 * cpu / wall, 3),
           "read_median_ms": round(1000 * statistics.median(reads), 3),
           "read_p99_ms": round(1000 * sorted(reads)[int(0.99 * (len(reads) - 1))], 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
