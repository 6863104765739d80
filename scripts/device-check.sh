#!/usr/bin/env bash
# Everything GPU in one run on a GPU machine (docs/gpu.md, "Reproduce": .whl/ holds the wheels):
# install the wheels, run the GPU tests, measure NVML sampling cost, run the GPU demo starved /
# tuned / batch too small / batch too large (found with the real allocator) / on two GPUs when
# there are two, summarise, and pack it all into $OUT/device-check.tgz (+ summary.json).
set -uo pipefail
OUT="${OUT:-/tmp/raytop-device-out}"
W=/tmp/raytop-device-check; rm -rf "$W"; mkdir -p "$W" "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl 2>/dev/null || exit 1
export PYTHONPATH=/tmp/site:$PWD RAY_DATA_DISABLE_PROGRESS_BARS=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, ray; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ray', ray.__version__)"
  echo "cpus $(nproc)"; } > "$W/machine.txt" 2>&1
cat "$W/machine.txt"
python3 -m raytop doctor > "$W/doctor.txt" 2>&1
python3 -m pytest -q -p no:cacheprovider tests/gpu tests/sources/test_gpu_source.py > "$W/gpu-tests.txt" 2>&1
tail -1 "$W/gpu-tests.txt"
python3 benchmarks/gpu_sampling.py 20 > "$W/gpu-sampling.json" 2>&1; cat "$W/gpu-sampling.json"
run() {  # name, then demo args
  local name=$1; shift
  python3 -m raytop run --headless --interval 0.5 --record "$W/$name.raytop" demos/gpu_inference.py "$@" \
    > "$W/$name.stdout" 2> "$W/$name.stderr"
  echo "$name exit=$? $(tail -1 "$W/$name.stdout")"
}
run starved --mode starved --rows 30000
run tuned --mode tuned --rows 120000
run small_batch --mode tuned --rows 30000 --batch-size 4
# The demo's actor needs a little less memory than the probe process at the same batch size,
# so aim the probe just under full to land the actor at about 95-96 %.
BIG=$(python3 scripts/gpu_pick_batch.py 0.995 2>"$W/pick-batch.txt"); cat "$W/pick-batch.txt"
run big_batch --mode tuned --rows 36000 --batch-size "$BIG"
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then run two_gpus --mode tuned --rows 120000 --gpus 2; fi
python3 scripts/gpu_summary.py "$W"/*.raytop --json "$W/summary.json"
cp "$W/summary.json" "$OUT/summary.json"
tar -C "$W" -czf "$OUT/device-check.tgz" .
