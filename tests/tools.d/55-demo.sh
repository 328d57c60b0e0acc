#!/usr/bin/env bash
# `make demo` must not fail at random: run scripts/demo.sh three times, the last two while
# the machine is deliberately loaded (a busy loop on every core, stopped by the trap), and
# check each run's exit code and output. Also checks that no script pipes into a reader that
# stops early (head, grep -q, sed q) under pipefail, which killed the demo with SIGPIPE.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

# --- no early-closing readers behind a pipe.
bad="$(grep -nHE '[^|]\|[[:space:]]*(head|grep[[:space:]]+-[a-zA-Z]*[qm]|sed[[:space:]][^|]*[;{ ]q[;} ])' \
  scripts/*.sh scripts/setup.d/*.sh scripts/bench.d/*.sh scripts/cluster/*.sh tests/tools.d/*.sh \
  tests/artillery-compat/*.sh tests/cluster/*.sh \
  | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)"
if [ -n "$bad" ]; then
  echo "demo check: a pipe into a reader that stops early (SIGPIPE under pipefail):" >&2
  echo "$bad" >&2
  exit 1
fi

# The demo's binaries, built once up front with the test build's features.
build_test_bins
WORK="$(mktemp -d)"
LOAD=()
stop_load() {
  for pid in "${LOAD[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LOAD[@]}"; do wait "$pid" 2>/dev/null || true; done
  LOAD=()
}
cleanup() {
  stop_load
  rm -rf "$WORK"
}
trap cleanup EXIT
start_load() {
  local n
  n="$(nproc)"
  for _ in $(seq "$n"); do
    bash -c 'while :; do :; done' &
    LOAD+=($!)
  done
}

# check_run N LOG: the demo's promises, from its output and its files under target/demo.
check_run() {
  local n="$1" log="$2" missing=()
  for want in \
    'exit code 0 (0 = passed)' \
    'exit code 1 (1 = failed)' \
    'testcar_run_status{status="passed"} 1' \
    'the sidecar stays alive and idle' \
    'sidecar exited 0 on SIGTERM' \
    'allowed: True  uid echoed: True' \
    'testcar_injector_admissions_total' \
    'done: results under target/demo/'; do
    grep -qF -- "$want" "$log" || missing+=("$want")
  done
  # the sidecar's last stdout line is the verdict, and it passed
  python3 - target/demo/sidecar.stdout <<'PY' || missing+=("the sidecar's last stdout line: a passed result")
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
doc = json.loads(lines[-1])
assert doc["schema"] == "testcar.io/result/v1" and doc["status"] == "passed", doc.get("status")
PY
  if [ ${#missing[@]} -gt 0 ]; then
    echo "demo run $n: missing from the output:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "--- output of run $n:" >&2
    cat "$log" >&2
    return 1
  fi
}

for n in 1 2 3; do
  load="idle machine"
  if [ "$n" -ge 2 ]; then
    start_load
    load="loaded machine: ${#LOAD[@]} busy loops"
  fi
  log "demo run $n of 3 ($load)"
  started=$SECONDS
  code=0
  TESTCAR_DEMO_BUILD=0 bash scripts/demo.sh >"$WORK/demo.$n.log" 2>&1 || code=$?
  stop_load
  if [ "$code" != 0 ]; then
    echo "demo run $n ($load) exited $code; its output:" >&2
    cat "$WORK/demo.$n.log" >&2
    exit 1
  fi
  check_run "$n" "$WORK/demo.$n.log"
  log "demo run $n passed in $((SECONDS - started))s"
done
