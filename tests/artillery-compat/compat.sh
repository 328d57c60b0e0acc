#!/usr/bin/env bash
# Runs every script of the corpus through real Artillery 2.x and through Testcar's native
# engine against the same deterministic local server, then compares: counters
# (http.requests, http.codes.*, vusers.*, plugins.expect.*) must be equal on deterministic
# scripts, and verdicts must agree on all. A script marks itself `# compat: verdict-only`
# when its counters depend on timing; `# args: ...` passes extra run arguments (e.g. -e).
source "$(dirname "$0")/../../scripts/lib.sh"
CORPUS="$ROOT/tests/artillery-compat/corpus"
ART="$TOOLS/node_modules/.bin/artillery"
if [ ! -x "$ART" ]; then
  echo "artillery not installed under $TOOLS (run: make setup)" >&2
  exit 1
fi
export ARTILLERY_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
log "building the engine harness"
build_test_bins
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples"
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
for script in "$CORPUS"/*.yml; do
  name="$(basename "$script" .yml)"
  args="$(sed -n 's/^# args: //p' "$script" | head -1)"
  mode=exact
  grep -q '^# compat: verdict-only' "$script" && mode=verdict
  # shellcheck disable=SC2086
  art_rc=0
  (cd "$WORK" && "$ART" run --output "$WORK/$name.artillery.json" $args "$script" >"$WORK/$name.artillery.log" 2>&1) || art_rc=$?
  # shellcheck disable=SC2086
  tc_rc=0
  "$BIN/run-script" --output "$WORK/$name.testcar.json" $args "$script" >"$WORK/$name.testcar.log" 2>&1 || tc_rc=$?
  if python3 - "$name" "$mode" "$art_rc" "$tc_rc" "$WORK/$name.artillery.json" "$WORK/$name.testcar.json" <<'PY'
import json, sys
name, mode, art_rc, tc_rc, art_path, tc_path = sys.argv[1:]
verdict = {0: "passed"}
art_v = "passed" if art_rc == "0" else "failed"
tc_v = {"0": "passed", "1": "failed"}.get(tc_rc, "error")
problems = []
if art_v != tc_v:
    problems.append(f"verdict: artillery {art_v} (exit {art_rc}), testcar {tc_v} (exit {tc_rc})")
def counters(path):
    try:
        c = json.load(open(path))["aggregate"]["counters"]
    except Exception as e:
        problems.append(f"no report at {path}: {e}")
        return {}
    keep = ("http.requests", "http.codes.", "vusers.", "plugins.expect.")
    return {k: v for k, v in c.items() if k.startswith(keep)}
a, t = counters(art_path), counters(tc_path)
if mode == "exact":
    for k in sorted(set(a) | set(t)):
        if a.get(k) != t.get(k):
            problems.append(f"{k}: artillery {a.get(k)}, testcar {t.get(k)}")
status = "ok" if not problems else "MISMATCH"
print(f"{status:8} {name} ({mode}): verdict {tc_v}, {len(t)} counters compared" if mode == "exact" else f"{status:8} {name} ({mode}): verdict {tc_v}")
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
echo "compat: every script agrees"
