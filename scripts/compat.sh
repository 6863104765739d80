#!/usr/bin/env bash
# raytop's core end-to-end tests against one Ray release, in a venv of its own (docs/compat.md).
#
#   scripts/compat.sh VERSION [CHECK...]
#
# VERSION: a Ray release, X.Y.Z (or X.Y: the newest X.Y.* that pip finds). CHECKs: pytest
# targets, and `demo` for `raytop run --headless demos/healthy.py` plus its JSON report; by
# default the core tests below and the demo. Prints one line per check, exits 1 if one failed.
#
# Environment: RAYTOP_COMPAT_DIR (venvs and logs; default ~/.cache/raytop-compat), PYTHON (the
# interpreter the venv is made from; default python3), RAYTOP_COMPAT_FRESH=1 (rebuild the venv).
set -euo pipefail

CORE_TESTS=(tests/sources/test_probe.py tests/sources/test_sources_stats.py tests/core/test_adapter_rows.py
            tests/core/test_run_e2e.py tests/demos/test_graph_pipelines.py)
DEMO_ROWS=24000  # demos/healthy.py's ROWS

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
VERSION=$1; shift
[[ $VERSION =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || { echo "compat: bad version '$VERSION'" >&2; usage; }
if [[ $VERSION =~ ^[0-9]+\.[0-9]+$ ]]; then SPEC="==$VERSION.*"; else SPEC="==$VERSION"; fi
CHECKS=("$@")
[ ${#CHECKS[@]} -gt 0 ] || CHECKS=("${CORE_TESTS[@]}" demo)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${RAYTOP_COMPAT_DIR:-$HOME/.cache/raytop-compat}/ray-$VERSION
VPY=$VENV/bin/python
LOGS=$VENV/logs/$(date -u +%Y%m%dT%H%M%SZ)
# The tests start their own local Ray; nothing from the caller's environment may leak in.
unset PYTHONPATH RAY_DATA_EXECUTION_CALLBACKS
export RAY_ADDRESS=local RAY_DATA_DISABLE_PROGRESS_BARS=1

# What the venv was built from: rebuilt when the Ray spec, the checkout or pyproject.toml change.
stamp() {
  echo "ray$SPEC $ROOT $(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
}

# Called in an `if`, where set -e is off: every step says when it failed.
make_venv() {
  if [ "${RAYTOP_COMPAT_FRESH:-0}" = 1 ]; then rm -rf "$VENV" || return 1; fi
  [ -x "$VPY" ] || "${PYTHON:-python3}" -m venv "$VENV" || return 1
  [ "$(cat "$VENV/.stamp" 2>/dev/null)" = "$(stamp)" ] && return 0
  echo "ray$SPEC" > "$VENV/constraints.txt" || return 1  # keeps pip from moving Ray
  "$VPY" -m pip install -q --upgrade pip || return 1
  "$VPY" -m pip install -q -c "$VENV/constraints.txt" "ray[data,default]$SPEC" -e "$ROOT[test]" \
    || return 1
  stamp > "$VENV/.stamp"
}

passed=0
failed=0
result() {  # PASS|FAIL, name, seconds, detail
  printf '%s  %-36s %5ss  %s\n' "$1" "$2" "$3" "$4"
  if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

run_pytest() {  # one test file (or any pytest target) as one check
  local log start status
  log=$LOGS/$(echo "$1" | tr '/:' '__').log
  start=$SECONDS
  if (cd "$ROOT" && "$VPY" -m pytest -q -p no:cacheprovider "$1") >"$log" 2>&1; then
    status=PASS
  else
    status=FAIL
  fi
  result "$status" "$1" "$((SECONDS - start))" "$(tail -n 1 "$log")"
}

# `raytop run --headless demos/healthy.py`, `raytop report --format json`, and what they hold.
run_demo() {
  local rec=$LOGS/healthy.raytop json=$LOGS/healthy.json start=$SECONDS line rest
  if ! (cd "$LOGS" && "$VENV/bin/raytop" run --headless --record "$rec" "$ROOT/demos/healthy.py") \
      >"$LOGS/demo-run.log" 2>&1; then
    result FAIL "raytop run --headless demos/healthy.py" "$((SECONDS - start))" "$LOGS/demo-run.log"
    return
  fi
  result PASS "raytop run --headless demos/healthy.py" "$((SECONDS - start))" \
    "$(grep -o 'rows=[0-9]*' "$LOGS/demo-run.log" | tail -n 1)"
  start=$SECONDS
  if ! "$VENV/bin/raytop" report "$rec" --format json -o "$json" >"$LOGS/demo-report.log" 2>&1; then
    result FAIL "raytop report --format json" "$((SECONDS - start))" "$LOGS/demo-report.log"
    return
  fi
  result PASS "raytop report --format json" "$((SECONDS - start))" "$json"
  local rc=0
  "$VPY" "$ROOT/scripts/compat_check.py" "$rec" "$json" "$DEMO_ROWS" >"$LOGS/demo-check.log" 2>&1 \
    || rc=$?
  while IFS= read -r line; do
    case "$line" in
      PASS*|FAIL*) rest=${line:6}; result "${line:0:4}" "demo ${rest%%:*}" 0 "${rest#*: }" ;;
      INFO*) echo "$line" ;;
    esac
  done < "$LOGS/demo-check.log"
  if [ $rc -ne 0 ] && ! grep -q '^FAIL' "$LOGS/demo-check.log"; then
    result FAIL "demo checks" 0 "scripts/compat_check.py failed: $LOGS/demo-check.log"
  fi
}

main() {
  local start=$SECONDS
  mkdir -p "$(dirname "$VENV")"
  if ! make_venv >"$VENV.install.log" 2>&1; then
    result FAIL "install ray[data,default]$SPEC" "$((SECONDS - start))" "$VENV.install.log"
    exit 1
  fi
  mkdir -p "$LOGS"
  result PASS "install ray[data,default]$SPEC" "$((SECONDS - start))" \
    "ray $("$VPY" -c 'import ray; print(ray.__version__)'), python $("$VPY" -c 'import platform; print(platform.python_version())')"
  start=$SECONDS
  for check in "${CHECKS[@]}"; do
    if [ "$check" = demo ]; then run_demo; else run_pytest "$check"; fi
  done
  echo "ray $VERSION: $passed passed, $failed failed, checks took $((SECONDS - start))s; logs in $LOGS"
  [ "$failed" -eq 0 ]
}

main
