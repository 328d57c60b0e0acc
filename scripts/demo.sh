#!/usr/bin/env bash
# The main job end-to-end on this machine, no cluster needed: start the sample service,
# run the agent one-shot on examples/tests (passed) and examples/tests-failing (failed,
# exit code 1), then run it as a sidecar would in a pod and read /result and /metrics, and
# finally post a real-shaped AdmissionReview to the injector over TLS and show the patched pod.
# Exits non-zero if any step does not do what it shows. TESTCAR_DEMO_BUILD=0 skips the build
# (tests/tools.d/55-demo.sh runs the demo on the test build's binaries).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# No pipe into a reader that stops early (see lib.sh): outputs go to files under target/demo
# and are cut from there. Every wait is a bounded poll, generous for a loaded machine.
fail() { echo "demo: $*" >&2; exit 1; }

# show FILE [BYTES]: the first BYTES (300) of FILE on one line, then " ...".
show() {
  local text
  text="$(<"$1")"
  printf '%s ...\n' "${text:0:${2:-300}}"
}

if [ "${TESTCAR_DEMO_BUILD:-1}" = 1 ]; then
  log "build"
  cargo build -q -p testcar-agent -p sample-service -p testcar-injector
fi
AGENT="$ROOT/target/debug/testcar-agent"
OUT="$ROOT/target/demo"
rm -rf "$OUT" && mkdir -p "$OUT"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

log "start examples/sample-service on a free port (ready after 1s)"
"$ROOT/target/debug/sample-service" --listen 127.0.0.1:0 --ready-after 1s --log-format text \
  >"$OUT/service.log" 2>&1 &
PIDS+=($!)
wait_until 60 "the sample service to listen" grep -q '^listening on http://' "$OUT/service.log" ||
  fail "the sample service did not start; its log: $(<"$OUT/service.log")"
TARGET="$(sed -n 's|^listening on \(http://[0-9.:]*\).*|\1|p' "$OUT/service.log")"
log "sample service on $TARGET"

log "testcar-agent run examples/tests --target $TARGET --readiness-url /readyz"
code=0
"$AGENT" run examples/tests --target "$TARGET" --readiness-url /readyz \
  --results-dir "$OUT/passing" --junit "$OUT/passing.junit.xml" --log-format text --log warn || code=$?
log "exit code $code (0 = passed); results in target/demo/passing/"
[ "$code" = 0 ] || fail "examples/tests should pass (exit 0), got exit $code"

log "testcar-agent run examples/tests-failing --target $TARGET"
code=0
"$AGENT" run examples/tests-failing --target "$TARGET" \
  --results-dir "$OUT/failing" --log-format text --log warn || code=$?
log "exit code $code (1 = failed)"
[ "$code" = 1 ] || fail "examples/tests-failing should fail (exit 1), got exit $code"

APORT=$(free_port)
log "sidecar mode: the pod's environment, endpoints on 127.0.0.1:$APORT"
TESTCAR_TARGET="$TARGET" TESTCAR_READINESS_URL="$TARGET/readyz" \
TESTCAR_TESTS_DIR="$ROOT/examples/tests" TESTCAR_RESULTS_DIR="$OUT/sidecar" \
TESTCAR_AUTH_DIR="$OUT/no-auth" TESTCAR_LISTEN="127.0.0.1:$APORT" \
TESTCAR_POD_NAME=sample-6d5f7c9b8-demo1 TESTCAR_POD_NAMESPACE=demo TESTCAR_LOG=warn \
  "$AGENT" sidecar >"$OUT/sidecar.stdout" 2>"$OUT/sidecar.stderr" &
SIDECAR=$!
PIDS+=($SIDECAR)
# the verdict reaches the log (stdout) when the run is over; the run alone takes ~15 s
wait_until 300 "the sidecar's result line" grep -q '"schema"' "$OUT/sidecar.stdout" ||
  fail "no result line from the sidecar; its log: $(<"$OUT/sidecar.stderr")"
wait_until 60 "GET /result" curl -fsS --max-time 10 -o "$OUT/sidecar.result.json" \
  "127.0.0.1:$APORT/result" 2>/dev/null
log "GET /result (first 300 bytes)"
show "$OUT/sidecar.result.json"
log "GET /metrics (run and suite status)"
curl -fsS --max-time 10 -o "$OUT/sidecar.metrics.txt" "127.0.0.1:$APORT/metrics"
awk '/^testcar_(run_status|suite_status|checks)/ && $NF != "0"' "$OUT/sidecar.metrics.txt"
log "the sidecar's last stdout line (what the gate reads from the pod log)"
last="$(tail -n 1 "$OUT/sidecar.stdout")"
printf '%s ...\n' "${last:0:300}"
kill -0 "$SIDECAR" 2>/dev/null || fail "the sidecar should stay alive and idle after its run"
log "the sidecar stays alive and idle; SIGTERM ends it"
kill -TERM "$SIDECAR"
code=0
wait "$SIDECAR" || code=$?
[ "$code" = 0 ] || fail "the idle sidecar should exit 0 on SIGTERM, got exit $code"
log "sidecar exited 0 on SIGTERM"

log "injector: a throw-away CA and serving certificate for 127.0.0.1"
TLS="$OUT/tls"
mk_tls "$TLS"
IPORT=$(free_port); MPORT=$(free_port)
"$ROOT/target/debug/testcar-injector" --listen "127.0.0.1:$IPORT" --metrics-listen "127.0.0.1:$MPORT" \
  --tls-cert "$TLS/tls.crt" --tls-key "$TLS/tls.key" --namespace testcar-system --log-format text \
  >"$OUT/injector.log" 2>&1 &
PIDS+=($!)
wait_http "127.0.0.1:$MPORT/readyz" || fail "the injector never became ready; its log: $(<"$OUT/injector.log")"
REVIEW="$ROOT/crates/testcar-injector/test_data/deployment-pod.review.json"
log "POST https://127.0.0.1:$IPORT/mutate  (a pod a Deployment created, annotated testcar.io/inject: \"true\")"
curl -fsS --max-time 30 --cacert "$TLS/ca.crt" -H 'Content-Type: application/json' \
  --data-binary "@$REVIEW" "https://127.0.0.1:$IPORT/mutate" -o "$OUT/review-response.json"
python3 - "$REVIEW" "$OUT/review-response.json" <<'PY'
import base64, copy, json, sys
review = json.load(open(sys.argv[1]))
response = json.load(open(sys.argv[2]))["response"]
print(f"allowed: {response['allowed']}  uid echoed: {response['uid'] == review['request']['uid']}")
for w in response.get("warnings") or []:
    print(f"warning: {w}")
ops = json.loads(base64.b64decode(response.get("patch", "") or "W10="))
print(f"JSON patch: {len(ops)} operations")
for op in ops:
    print(f"  {op['op']:4} {op['path']}")
def unescape(token):
    return token.replace("~1", "/").replace("~0", "~")
pod = copy.deepcopy(review["request"]["object"])
for op in ops:  # the injector only ever emits `add`
    *parents, last = [unescape(t) for t in op["path"].split("/")[1:]]
    node = pod
    for t in parents:
        node = node[int(t)] if isinstance(node, list) else node[t]
    if isinstance(node, list):
        node.append(op["value"]) if last == "-" else node.insert(int(last), op["value"])
    else:
        node[last] = op["value"]
spec = pod["spec"]
sidecars = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "testcar"]
print("patched pod:")
print("  containers:      " + ", ".join(c["name"] for c in spec["containers"]))
print("  init containers: " + (", ".join(c["name"] for c in spec.get("initContainers", [])) or "-"))
print("  volumes:         " + ", ".join(v["name"] for v in spec.get("volumes", [])))
print("  annotations:     " + ", ".join(f"{k}={v}" for k, v in pod["metadata"]["annotations"].items() if k.startswith("testcar.io/")))
if sidecars:
    c = sidecars[0]
    print(f"  testcar image:   {c['image']}")
    for e in c.get("env", []):
        print(f"    env {e['name']}=" + (e.get("value") or json.dumps(e.get("valueFrom"))))
PY
log "injector /metrics"
curl -fsS --max-time 10 -o "$OUT/injector.metrics.txt" "127.0.0.1:$MPORT/metrics"
grep -E '^testcar_injector_admissions_total' "$OUT/injector.metrics.txt"
log "done: results under target/demo/ (result.json, junit.xml, report.html per run)"
