#!/usr/bin/env bash
# The Grafana dashboard against real scrapes: run the agent as a sidecar on a smoke script
# (and one request to a closed port, for the error series)
# and the injector on one admission, scrape both /metrics, and check that every PromQL
# expression of the dashboard uses only metrics and labels those scrapes hold.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
build_test_bins
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)
./target/debug/sample-service --listen "127.0.0.1:$PORT" --ready-after 0s --log-format text \
  >"$WORK/service.log" 2>&1 &
PIDS+=($!)
mkdir -p "$WORK/tests"
cp examples/tests/smoke.yml "$WORK/tests/"
# a request to a closed port, so that the error counters have series too
cat > "$WORK/tests/unreachable.yml" <<YAML
config:
  phases:
    - duration: 1
      arrivalCount: 1
scenarios:
  - flow:
      - get:
          url: http://127.0.0.1:1/closed
YAML
APORT=$(free_port)
TESTCAR_TARGET="http://127.0.0.1:$PORT" TESTCAR_READINESS_URL="/readyz" \
TESTCAR_TESTS_DIR="$WORK/tests" TESTCAR_RESULTS_DIR="$WORK/results" \
TESTCAR_AUTH_DIR="$WORK/no-auth" TESTCAR_LISTEN="127.0.0.1:$APORT" \
TESTCAR_POD_NAME=orders-7c9f8d6b5-x2kqz TESTCAR_POD_NAMESPACE=shop TESTCAR_LOG=warn \
  ./target/debug/testcar-agent sidecar >"$WORK/sidecar.stdout" 2>"$WORK/sidecar.stderr" &
PIDS+=($!)
for _ in $(seq 300); do
  grep -q '"schema"' <(curl -fsS "127.0.0.1:$APORT/result" 2>/dev/null) && break
  sleep 0.1
done
curl -fsS "127.0.0.1:$APORT/metrics" > "$WORK/agent.txt"

mk_tls "$WORK/tls"
IPORT=$(free_port); MPORT=$(free_port)
./target/debug/testcar-injector --listen "127.0.0.1:$IPORT" --metrics-listen "127.0.0.1:$MPORT" \
  --tls-cert "$WORK/tls/tls.crt" --tls-key "$WORK/tls/tls.key" --namespace testcar-system \
  >"$WORK/injector.log" 2>&1 &
PIDS+=($!)
wait_http "127.0.0.1:$MPORT/readyz"
curl -fsS --cacert "$WORK/tls/ca.crt" -H 'Content-Type: application/json' \
  --data-binary @crates/testcar-injector/test_data/deployment-pod.review.json \
  "https://127.0.0.1:$IPORT/mutate" >/dev/null
curl -fsS "127.0.0.1:$MPORT/metrics" > "$WORK/injector.txt"

for f in agent injector; do
  n=$(grep -c '^testcar_' "$WORK/$f.txt" || true)
  [ "$n" -gt 0 ] || { echo "the $f exported no testcar_ metrics" >&2; exit 1; }
  log "$f scrape: $n testcar_ samples"
done
TESTCAR_METRICS_SCRAPE="$WORK/agent.txt,$WORK/injector.txt" \
  cargo test -q -p testcar-report --all-features --test it dashboard::
