#!/usr/bin/env bash
# Artillery engine bench, all peers in the same run against the same local server (pinned
# to core 1; clients that claim "one core" are pinned to core 0):
#  1. the bench script (one GET per VU, a new connection per VU as in Artillery) at a fixed
#     arrival rate: Testcar vs Artillery 2.x — CPU seconds per 1,000 requests, peak RSS;
#  2. the same per-request connection pattern at its floor: wrk with `Connection: close`
#     (the server closes, wrk reconnects for every request);
#  3. keep-alive: 10 Testcar VUs each running a `loop` of GETs on their connection vs
#     `wrk -t1 -c10` (10 kept-alive connections), both on one core;
#  4. one core, new connection per VU, open model at a high arrival rate: achieved req/s.
# Knobs: BENCH_RATE (500/s), BENCH_SECONDS (20), BENCH_HIGH_RATE (10000/s, run for 5 s),
# BENCH_KA_REQUESTS (200000).
source "$(dirname "$0")/../lib.sh"
RATE="${BENCH_RATE:-500}"
SECS="${BENCH_SECONDS:-20}"
HIGH="${BENCH_HIGH_RATE:-10000}"
KA="${BENCH_KA_REQUESTS:-200000}"
ART="$TOOLS/node_modules/.bin/artillery"
[ -x "$ART" ] || { echo "artillery missing: run make setup" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: run make setup" >&2; exit 1; }
(cd "$ROOT" && cargo build -q --release -p testcar-artillery --examples)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
WORK="$(mktemp -d)"
PORT="$(free_port)"
taskset -c 1 "$BIN/compat-server" --port "$PORT" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 0.5
export COMPAT_PORT="$PORT" ARTILLERY_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
URL="http://127.0.0.1:$PORT/"

mk_script() { # rate seconds
  cat <<YAML
config:
  target: "http://127.0.0.1:$PORT"
  phases:
    - duration: $2
      arrivalRate: $1
scenarios:
  - flow:
      - get:
          url: /
YAML
}
mk_keepalive() { # requests per VU, 10 VUs
  cat <<YAML
config:
  target: "http://127.0.0.1:$PORT"
  phases:
    - duration: 1
      arrivalCount: 10
scenarios:
  - flow:
      - loop:
          - get:
              url: /
        count: $1
YAML
}
mk_script "$RATE" "$SECS" >"$WORK/fixed.yml"
mk_script "$HIGH" 5 >"$WORK/high.yml"
mk_keepalive $((KA / 10)) >"$WORK/keepalive.yml"

# measure NAME CMD...: records user+sys CPU seconds, peak RSS (KiB) and wall seconds.
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%U %S %M %e" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>&1 || true
  read -r user sys rss wall <"$WORK/$name.time" || true
  echo "$name $user $sys $rss $wall" >>"$WORK/results"
}
counter_of() { # report counter
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['aggregate']['counters'].get(sys.argv[2],0))" "$1" "$2"
}
wrk_requests() { awk '/requests in/ {print $1}' "$1"; }

# Connections in TIME_WAIT from earlier runs slow down the choice of a local port for
# every new connection; the open-model high-rate run goes first for that reason.
log "testcar on one core at $HIGH/s for 5s (new connection per VU)"
measure testcar_high taskset -c 0 "$BIN/run-script" --output "$WORK/high.json" "$WORK/high.yml"
log "testcar at $RATE/s for ${SECS}s"
measure testcar "$BIN/run-script" --output "$WORK/testcar.json" "$WORK/fixed.yml"
log "artillery at $RATE/s for ${SECS}s"
measure artillery "$ART" run --output "$WORK/artillery.json" "$WORK/fixed.yml"
log "wrk keep-alive (1 thread, 10 connections) on one core for ${SECS}s"
measure wrk_keepalive taskset -c 0 wrk -t1 -c10 -d"${SECS}s" "$URL"
log "testcar keep-alive (10 VUs x loop of $((KA / 10)) GETs) on one core"
measure testcar_keepalive taskset -c 0 "$BIN/run-script" --output "$WORK/keepalive.json" "$WORK/keepalive.yml"
log "wrk with Connection: close (a new connection per request) on one core for ${SECS}s"
measure wrk_close taskset -c 0 wrk -t1 -c10 -d"${SECS}s" -H "Connection: close" "$URL"

{
  echo "testcar $(counter_of "$WORK/testcar.json" http.responses) $(counter_of "$WORK/testcar.json" http.requests)"
  echo "artillery $(counter_of "$WORK/artillery.json" http.responses) $(counter_of "$WORK/artillery.json" http.requests)"
  echo "testcar_high $(counter_of "$WORK/high.json" http.responses) $(counter_of "$WORK/high.json" http.requests)"
  echo "testcar_keepalive $(counter_of "$WORK/keepalive.json" http.responses) $(counter_of "$WORK/keepalive.json" http.requests)"
  echo "wrk_keepalive $(wrk_requests "$WORK/wrk_keepalive.out") $(wrk_requests "$WORK/wrk_keepalive.out")"
  echo "wrk_close $(wrk_requests "$WORK/wrk_close.out") $(wrk_requests "$WORK/wrk_close.out")"
} >"$WORK/requests"
python3 - "$WORK/results" "$WORK/requests" "$RATE" "$SECS" "$HIGH" "$(nproc)" "$(cat /proc/loadavg)" <<'PY'
import sys
rows, reqs, sent = {}, {}, {}
for line in open(sys.argv[1]):
    name, user, sys_, rss, wall = line.split()
    rows[name] = (float(user) + float(sys_), int(rss), float(wall))
for line in open(sys.argv[2]):
    name, responses, requests = line.split()
    reqs[name], sent[name] = int(responses or 0), int(requests or 0)
rate, secs, high, cpus = sys.argv[3:7]
per = {n: rows[n][0] / max(reqs[n], 1) * 1000 for n in rows}
print(f"\nArtillery engine bench ({cpus} CPUs; load average before the summary: {sys.argv[7]})")
print(f"{'run':44} {'responses':>9} {'cpu s':>7} {'cpu s/1k':>9} {'RSS MiB':>8} {'wall s':>7} {'resp/s':>8}")
labels = {
    "testcar": f"testcar  GET/VU {rate}/s x {secs}s, new conn/VU",
    "artillery": f"artillery GET/VU {rate}/s x {secs}s, new conn/VU",
    "wrk_close": "wrk -c10 Connection: close, 1 core",
    "testcar_keepalive": "testcar  10 VUs x loop, keep-alive, 1 core",
    "wrk_keepalive": "wrk -c10 keep-alive, 1 core",
    "testcar_high": f"testcar  GET/VU {high}/s x 5s, 1 core",
}
for n, label in labels.items():
    cpu, rss, wall = rows[n]
    print(f"{label:44} {reqs[n]:>9} {cpu:>7.2f} {per[n]:>9.4f} {rss/1024:>8.1f} {wall:>7.1f} {reqs[n]/max(wall,1e-9):>8.0f}")
def ratio(a, b):
    return per[a] / max(per[b], 1e-12)
print()
print(f"testcar/artillery CPU per request (same script, {rate}/s)  = 1/{1/max(ratio('testcar','artillery'),1e-12):.1f}  (goal <= 1/20)")
print(f"testcar/artillery peak RSS                           = 1/{rows['artillery'][1]/max(rows['testcar'][1],1):.1f}  (goal <= 1/5)")
print(f"testcar/wrk CPU per request, keep-alive, 1 core      = {ratio('testcar_keepalive','wrk_keepalive'):.2f}x  (goal <= 2x)")
print(f"testcar/wrk CPU per request, new connection each     = {ratio('testcar','wrk_close'):.2f}x  (testcar open model at {rate}/s, wrk closed loop)")
ka_rate = reqs['testcar_keepalive'] / max(rows['testcar_keepalive'][2], 1e-9)
print(f"one core, keep-alive: {ka_rate:.0f} req/s achieved (goal >= 20000)")
hc, _, hw = rows['testcar_high']
errors = sent['testcar_high'] - reqs['testcar_high']
print(f"one core, new connection per VU: {high}/s asked for 5 s -> {reqs['testcar_high']} responses in {hw:.1f}s wall "
      f"= {reqs['testcar_high']/max(hw,1e-9):.0f} resp/s, {errors} requests without a response, cpu {hc:.2f}s "
      f"({hc/max(reqs['testcar_high'],1)*1e6:.0f} us/request); wrk's floor with a connection per request: "
      f"{reqs['wrk_close']/max(rows['wrk_close'][2],1e-9):.0f} req/s")
PY
