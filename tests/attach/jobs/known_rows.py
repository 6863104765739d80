"""A Ray Data job started with plain `python` against an existing cluster (RAY_ADDRESS), no probe.

Phase 1: ROWS rows -> a CPU map -> a small actor pool -> Parquet files (about 40 s on 2 cores).
Phase 2 (after raytop has left, i.e. once GO_ON_FILE exists): how long any raytop agent thread
still runs in this process, then a second, short execution; everything it saw goes to REPORT
as JSON. argv: OUT_DIR REPORT GO_ON_FILE
"""

import json
import os
import sys
import threading
import time

import numpy as np
import ray

ROWS = 24_000
out_dir, report_path, go_on = sys.argv[1], sys.argv[2], sys.argv[3]


def featurize(batch):
    start = time.process_time()
    x = batch["id"].astype(np.float64)
    while time.process_time() - start < 0.12:  # CPU work per block
        x = np.sqrt(x * x + 1.0)
    batch["feature"] = x
    return batch


class Scorer:
    def __call__(self, batch):
        time.sleep(0.04)
        batch["score"] = batch["feature"] * 0.5
        return batch


ray.init(log_to_driver=False)
started = time.time()
(ray.data.range(ROWS, override_num_blocks=240)
 .map_batches(featurize)
 .map_batches(Scorer, batch_size=100, num_cpus=0.5, compute=ray.data.ActorPoolStrategy(size=1))
 .write_parquet(out_dir))
phase1_s = time.time() - started
written = sum(len(f) > 0 for f in os.listdir(out_dir))
print(f"phase1 wrote {ROWS} rows in {phase1_s:.1f}s ({written} files)", flush=True)

while not os.path.exists(go_on):
    time.sleep(0.2)  # waiting for the test to say raytop has left
left = time.monotonic()
agent_alive_s = None
while time.monotonic() - left < 30:
    if not any(t.name == "raytop-agent" for t in threading.enumerate()):
        agent_alive_s = time.monotonic() - left
        break
    time.sleep(0.2)
rows2 = ray.data.range(5_000, override_num_blocks=10).map_batches(featurize).count()
report = {"phase1_s": phase1_s, "rows": ROWS, "agent_alive_after_raytop_left_s": agent_alive_s,
          "threads": sorted(t.name for t in threading.enumerate()), "rows2": rows2,
          "raytop_loaded": "raytop" in sys.modules}
with open(report_path, "w") as fh:
    json.dump(report, fh)
print("done", json.dumps(report), flush=True)
