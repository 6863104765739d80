#!/usr/bin/env bash
# raytop attach on a GPU machine (.whl/ as in docs/gpu.md, "Reproduce"): a `ray start` cluster,
# the GPU demo started with plain python (starved: preprocessing capped at 2 tasks), watched by
# two recorders at once, probe-free and --inject (gdb or cuda-gdb); JSON reports and a summary
# into $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/raytop-device-out}"
W=/tmp/raytop-attach; rm -rf "$W"; mkdir -p "$W" "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>/dev/null || exit 1
export PYTHONPATH=/tmp/site:$PWD RAY_DATA_DISABLE_PROGRESS_BARS=1 PYTHONUNBUFFERED=1
RAY="python3 -c 'import sys; from ray.scripts.scripts import main; sys.argv[0]=\"ray\"; main()'"
echo "cpus $(nproc); gdb: $(command -v gdb || echo none); cuda-gdb: $(command -v cuda-gdb || echo none)"
setsid bash -c "$RAY start --head --block --disable-usage-stats --include-dashboard=false" > "$W/ray.log" 2>&1 &
for _ in $(seq 120); do grep -q "Ray runtime started" "$W/ray.log" && break; sleep 1; done
export RAY_ADDRESS=auto
python3 -m raytop doctor > "$W/doctor-before.txt" 2>&1
RAYTOP_CHANNEL_DIR=$W/ch-free python3 -m raytop record --interval 1 -o "$W/free.raytop" 2> "$W/free.err" &
FREE=$!
RAYTOP_CHANNEL_DIR=$W/ch-inj python3 -m raytop record --interval 1 --inject -o "$W/inj.raytop" 2> "$W/inj.err" &
INJ=$!
sleep 5
python3 demos/gpu_inference.py --mode starved --rows 60000 > "$W/demo.out" 2> "$W/demo.err"
echo "demo exit=$? $(tail -1 "$W/demo.out")"
sleep 15  # a last refresh of Ray's exported series
kill -INT $FREE $INJ; wait $FREE $INJ
for r in free inj; do
  python3 -m raytop report "$W/$r.raytop" --format json -o "$W/$r.json" --force
  grep -E "probe_|inject" "$W/$r.err" | head -5
done
python3 - "$W" <<'PY' | tee "$OUT/attach-summary.txt"
import json, sys
from raytop.recording import RecordingReader
w = sys.argv[1]
for name in ("free", "inj"):
    rep = json.load(open(f"{w}/{name}.json"))
    d = rep["datasets"][0]
    print(name, "rows", d.get("rows_out_max"), "rows/s", round(d.get("rows_per_s") or 0), "plan", d.get("plan_source"))
    print("  suggestions:", [(s["rule"], s["severity"], s["operator"]) for s in rep["suggestions"]])
    with RecordingReader(f"{w}/{name}.raytop") as r:
        snaps = list(r.iter_snapshots())
        stale = sum(1 for s in snaps if s.sources.get("stats", "ok") != "ok")
        print("  snapshots", len(snaps), "stats not ok in", stale, [e.message for e in r.events() if e.kind.startswith(("probe_", "inject"))])
PY
cp "$W/free.json" "$W/inj.json" "$W/doctor-before.txt" "$OUT/"
tar -C "$W" -czf "$OUT/attach.tgz" free.raytop inj.raytop free.err inj.err demo.out demo.err
