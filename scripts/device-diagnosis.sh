#!/usr/bin/env bash
# The GPU part of the diagnosis checks (issue 13), in one device call (carry .whl as in
# device-check.sh: ray, torch and raytop's dependencies as wheels):
#  1. demos/failures/cuda_oom.py (activations need ~1.6x the card) dies of CUDA OOM: raytop must
#     name gpu-memory-risk at critical with a batch size; that batch size must then run.
#  2. On two GPUs, demos/gpu_inference.py --batch-size 5515 --gpus 2 (the run the issue saw):
#     the same, when it fails; when it does not, the verdict says so.
#  3. demos/consumers/iter_torch_batches.py (needs torch): actor-pool-undersized.
# Each run: `raytop run --headless --record`, then `raytop report --format json`; a verdict
# per check in $OUT/diagnosis-summary.txt, the reports and logs in $OUT/device-diagnosis.tgz.
set -uo pipefail
OUT="${OUT:-/tmp/raytop-device-out}"
W=/tmp/raytop-device-diagnosis; rm -rf "$W"; mkdir -p "$W" "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  [ -d /tmp/site/ray ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export RAY_DATA_DISABLE_PROGRESS_BARS=1 PYTHONUNBUFFERED=1 RAY_ADDRESS=local
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c "import torch, ray; print('torch', torch.__version__, 'ray', ray.__version__)"; } \
  | tee "$W/machine.txt"
GPUS=$(nvidia-smi -L | wc -l)

run() {  # name, then the script and its arguments; prints the exit code
  local name=$1; shift
  python3 -m raytop run --headless --interval 0.5 --record "$W/$name.raytop" "$@" \
    > "$W/$name.stdout" 2> "$W/$name.stderr"
  local code=$?
  python3 -m raytop report "$W/$name.raytop" --format json -o "$W/$name.json" --force \
    > /dev/null 2>> "$W/$name.stderr"
  echo "$code"
}

# The first finding of a report: "rule severity suggested_batch_size" (batch "-" when none).
first() { python3 - "$W/$1.json" <<'PY'
import json, sys
s = (json.load(open(sys.argv[1]))["suggestions"] or [{}])[0]
print(s.get("rule", "none"), s.get("severity", "-"), (s.get("figures") or {}).get("suggested_batch_size") or "-")
PY
}

oom_check() {  # name, script, its arguments (without --batch-size ...): fail, read, re-run
  local name=$1; shift
  local code verdict rule sev fit
  code=$(run "$name" "$@" ${BATCH_ARGS:-})
  read -r rule sev fit < <(first "$name")
  verdict="$name: exit $code, first finding $rule $sev, batch that fits $fit"
  if [ "$code" = 0 ]; then
    verdict="$verdict -> NOT PLANTED (the job did not fail)"
  elif [ "$rule $sev" != "gpu-memory-risk critical" ] || [ "$fit" = "-" ]; then
    verdict="$verdict -> FAIL (expected gpu-memory-risk critical with a batch size)"
  else
    code=$(BATCH_ARGS= run "$name-fit" "$@" --batch-size "$fit")
    [ "$code" = 0 ] && verdict="$verdict -> PASS (batch_size=$fit then ran)" \
      || verdict="$verdict -> FAIL (batch_size=$fit exited $code)"
  fi
  echo "$verdict" | tee -a "$W/summary.txt"
}

oom_check cuda_oom demos/failures/cuda_oom.py
if [ "$GPUS" -ge 2 ]; then
  BATCH_ARGS="--batch-size 5515" oom_check gpu_inference_5515 demos/gpu_inference.py --mode tuned --rows 44120 --gpus 2
fi
code=$(run iter_torch_batches demos/consumers/iter_torch_batches.py)
read -r rule sev fit < <(first iter_torch_batches)
echo "iter_torch_batches: exit $code, first finding $rule $sev -> $([ "$rule" = actor-pool-undersized ] && echo PASS || echo FAIL)" \
  | tee -a "$W/summary.txt"
cp "$W/summary.txt" "$OUT/diagnosis-summary.txt"
tar -C "$W" -czf "$OUT/device-diagnosis.tgz" --exclude='*.raytop' . && ls -la "$OUT"
