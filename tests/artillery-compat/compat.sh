#!/usr/bin/env bash
# Runs every script of the corpus through real Artillery 2.x and through Testcar's native
# engine against the same deterministic local server, then compares: counters
# (http.requests, http.codes.*, vusers.*, plugins.expect.*, websocket.*) must be equal on deterministic
# scripts, and verdicts must agree on all. A script marks itself `# compat: verdict-only`
# when its counters depend on timing, or `# compat: counters-only` when its verdict differs
# on purpose (a known difference, see docs/artillery-compatibility.md); `# args: ...` passes
# extra run arguments (e.g. -e).
# Usage: compat.sh [NAME...] runs only the named scripts (file names without .yml or .json;
# JSON scripts carry no comments, so they are compared exactly);
# COMPAT_BIN=DIR uses already built examples (compat-server, run-script) from DIR.
# Artillery's verdicts and counters are recorded in expected.json, which the Rust corpus test
# (crates/testcar-artillery/tests/it/corpus.rs) asserts in `make test`; every run checks the
# record still matches real Artillery, and COMPAT_RECORD=1 rewrites it.
source "$(dirname "$0")/../../scripts/lib.sh"
CORPUS="$ROOT/tests/artillery-compat/corpus"
EXPECTED="$ROOT/tests/artillery-compat/expected.json"
ART="$TOOLS/node_modules/.bin/artillery"
if [ ! -x "$ART" ]; then
  echo "artillery not installed under $TOOLS (run: make setup)" >&2
  exit 1
fi
export ARTILLERY_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
if [ -n "${COMPAT_BIN:-}" ]; then
  BIN="$COMPAT_BIN"
else
  log "building the engine harness"
  build_test_bins
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples"
fi
WORK="$(mktemp -d)"
PORT="$(free_port)"
"$BIN/compat-server" --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
export COMPAT_PORT="$PORT"
for _ in $(seq 50); do
  (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  sleep 0.1
done

failed=0
scripts=()
if [ $# -gt 0 ]; then
  for n in "$@"; do
    if [ -f "$CORPUS/$n.json" ]; then scripts+=("$CORPUS/$n.json"); else scripts+=("$CORPUS/$n.yml"); fi
  done
else
  shopt -s nullglob
  scripts=("$CORPUS"/*.yml "$CORPUS"/*.json)
  shopt -u nullglob
fi
# script_name SCRIPT: the file name without its extension (.yml or .json).
script_name() {
  local base
  base="$(basename "$1")"
  echo "${base%.*}"
}
# run_pair SCRIPT: both runners on one script, exit codes kept in $WORK/NAME.*.rc.
run_pair() {
  local script="$1" name args rc
  name="$(script_name "$script")"
  args="$(sed -n '/^# args: /{s///p;q;}' "$script")"
  rc=0
  # shellcheck disable=SC2086
  (cd "$WORK" && "$ART" run --output "$WORK/$name.artillery.json" $args "$script" >"$WORK/$name.artillery.log" 2>&1) || rc=$?
  echo "$rc" >"$WORK/$name.artillery.rc"
  rc=0
  # shellcheck disable=SC2086
  "$BIN/run-script" --output "$WORK/$name.testcar.json" $args "$script" >"$WORK/$name.testcar.log" 2>&1 || rc=$?
  echo "$rc" >"$WORK/$name.testcar.rc"
}
# Artillery spends seconds starting Node.js per script: run a few scripts at once
# (COMPAT_JOBS, default 3); the timing-sensitive scripts leave wide margins.
log "running ${#scripts[@]} scripts through Artillery and Testcar"
pids=()
for script in "${scripts[@]}"; do
  # The server is a job too: at most COMPAT_JOBS pairs besides it.
  while [ "$(jobs -rp | wc -l)" -gt "${COMPAT_JOBS:-3}" ]; do sleep 0.2; done
  run_pair "$script" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

for script in "${scripts[@]}"; do
  name="$(script_name "$script")"
  mode=exact
  grep -q '^# compat: verdict-only' "$script" && mode=verdict
  grep -q '^# compat: counters-only' "$script" && mode=counters
  art_rc="$(cat "$WORK/$name.artillery.rc")"
  tc_rc="$(cat "$WORK/$name.testcar.rc")"
  if python3 - "$name" "$mode" "$art_rc" "$tc_rc" "$WORK/$name.artillery.json" "$WORK/$name.testcar.json" "$WORK/compared" "$EXPECTED" "${COMPAT_RECORD:-0}" <<'PY'
import json, os, sys
name, mode, art_rc, tc_rc, art_path, tc_path = sys.argv[1:7]
expected_path, record = sys.argv[8], sys.argv[9] == "1"
verdict = {0: "passed"}
# Artillery exits 1 both for failed checks and when it crashed; only a crash leaves no report.
art_v = "passed" if art_rc == "0" else ("failed" if os.path.exists(art_path) else "error")
tc_v = {"0": "passed", "1": "failed"}.get(tc_rc, "error")
problems = []
if art_v != tc_v and mode != "counters":
    problems.append(f"verdict: artillery {art_v} (exit {art_rc}), testcar {tc_v} (exit {tc_rc})")
def counters(path):
    if art_v == "error" and not os.path.exists(path):
        return {}
    try:
        c = json.load(open(path))["aggregate"]["counters"]
    except Exception as e:
        problems.append(f"no report at {path}: {e}")
        return {}
    keep = ("apdex.", "http.requests", "http.responses", "http.codes.", "vusers.", "errors.",
            "plugins.expect.", "plugins.metrics-by-endpoint.", "websocket.")
    # Per-endpoint histograms are summaries, not counters; Artillery lists none here.
    # The server's port changes per run: names holding a URL record it as PORT.
    server = "127.0.0.1:" + os.environ["COMPAT_PORT"]
    return {k.replace(server, "127.0.0.1:PORT"): v for k, v in c.items()
            if k.startswith(keep) and ".response_time." not in k and k != "vusers.session_length"}
a, t = counters(art_path), counters(tc_path)
if mode in ("exact", "counters"):
    for k in sorted(set(a) | set(t)):
        if a.get(k) != t.get(k):
            problems.append(f"{k}: artillery {a.get(k)}, testcar {t.get(k)}")
status = "ok" if not problems else "MISMATCH"
expected = json.load(open(expected_path)) if os.path.exists(expected_path) else {}
mine = {"mode": mode, "verdict": art_v, "counters": a if mode != "verdict" else {}}
if record:
    expected[name] = mine
    with open(expected_path, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
elif expected.get(name) != mine:
    problems.append(f"expected.json is stale for {name} (real Artillery now gives {mine}); "
                    "rerun with COMPAT_RECORD=1")
compared = len(set(a) | set(t)) if mode != "verdict" else 0
detail = f"verdict {tc_v}" + (f" (artillery {art_v}: known difference)" if mode == "counters" else "")
print(f"{status:8} {name} ({mode}): {detail}, {compared} counters compared")
with open(sys.argv[7], "a") as f:
    f.write(f"{compared}\n")
for p in problems:
    print(f"         {p}")
sys.exit(1 if problems else 0)
PY
  then :; else
    failed=$((failed + 1))
    echo "         logs: $WORK/$name.*.log (kept)"; trap 'kill $SERVER 2>/dev/null' EXIT
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "compat: $failed script(s) disagree" >&2
  exit 1
fi
echo "compat: every script agrees (${#scripts[@]} scripts, $(awk '{s+=$1} END {print s+0}' "$WORK/compared") counter values compared)"
