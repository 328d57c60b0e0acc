#!/usr/bin/env bash
# Artillery engine bench: the same script (one GET per VU) at fixed arrival rates against
# the same local server, for Testcar's native engine and real Artillery 2.x, with wrk as the
# floor. Prints CPU seconds per 1,000 requests, peak RSS, and the ratios; then Testcar alone
# pinned to one core at a high rate (goal: >= 20,000 req/s).
# Knobs: BENCH_RATE (default 500/s), BENCH_SECONDS (20), BENCH_HIGH_RATE (20000).
source "$(dirname "$0")/../lib.sh"
RATE="${BENCH_RATE:-500}"
SECS="${BENCH_SECONDS:-20}"
HIGH="${BENCH_HIGH_RATE:-20000}"
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
mk_script "$RATE" "$SECS" >"$WORK/fixed.yml"
mk_script "$HIGH" 10 >"$WORK/high.yml"

# measure NAME REQUESTS_FROM CMD...: records user+sys CPU seconds and peak RSS (KiB).
measure() {
  local name="$1"; shift
  /usr/bin/time -f "%U %S %M %e" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>&1 || true
  read -r user sys rss wall <"$WORK/$name.time" || true
  echo "$name $user $sys $rss $wall" >>"$WORK/results"
}
requests_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['aggregate']['counters'].get('http.requests',0))" "$1"; }

log "testcar at $RATE/s for ${SECS}s"
measure testcar "$BIN/run-script" --output "$WORK/testcar.json" "$WORK/fixed.yml"
log "artillery at $RATE/s for ${SECS}s"
measure artillery "$ART" run --output "$WORK/artillery.json" "$WORK/fixed.yml"
log "wrk (closed loop, 1 thread, 10 connections) for ${SECS}s"
measure wrk wrk -t1 -c10 -d"${SECS}s" "http://127.0.0.1:$PORT/"
log "testcar on one core at $HIGH/s for 10s"
measure testcar_high taskset -c 0 "$BIN/run-script" --output "$WORK/high.json" "$WORK/high.yml"

tc_req="$(requests_of "$WORK/testcar.json")"
art_req="$(requests_of "$WORK/artillery.json")"
wrk_req="$(awk '/requests in/ {print $1}' "$WORK/wrk.out")"
high_req="$(requests_of "$WORK/high.json")"
python3 - "$WORK/results" "$tc_req" "$art_req" "$wrk_req" "$high_req" "$RATE" "$SECS" "$HIGH" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, user, sys_, rss, wall = line.split()
    rows[name] = (float(user) + float(sys_), int(rss), float(wall))
reqs = dict(testcar=int(sys.argv[2]), artillery=int(sys.argv[3]), wrk=int(sys.argv[4]), testcar_high=int(sys.argv[5]))
rate, secs, high = sys.argv[6:9]
print(f"\nArtillery engine bench: GET / at {rate}/s for {secs}s (wrk: closed loop)")
print(f"{'tool':14} {'requests':>9} {'cpu s':>7} {'cpu s/1k req':>13} {'peak RSS MiB':>13}")
per = {}
for name in ["testcar", "artillery", "wrk"]:
    cpu, rss, _ = rows[name]
    per[name] = cpu / max(reqs[name], 1) * 1000
    print(f"{name:14} {reqs[name]:>9} {cpu:>7.2f} {per[name]:>13.4f} {rss/1024:>13.1f}")
print(f"\nratios: testcar/artillery CPU per request = 1/{per['artillery']/max(per['testcar'],1e-9):.1f} (goal <= 1/20)")
print(f"        testcar/artillery peak RSS = 1/{rows['artillery'][1]/max(rows['testcar'][1],1):.1f} (goal <= 1/5)")
print(f"        testcar/wrk CPU per request = {per['testcar']/max(per['wrk'],1e-9):.2f}x (goal <= 2x)")
cpu, rss, wall = rows["testcar_high"]
# Achieved throughput is requests over wall time: when the engine falls behind, the run
# takes longer than the 10 s phase and this shows it.
print(f"one core, {high}/s asked for 10 s: {reqs['testcar_high']} requests in {wall:.1f}s wall = "
      f"{reqs['testcar_high']/max(wall,1e-9):.0f} req/s achieved (new connection per VU), cpu {cpu:.2f}s, "
      f"RSS {rss/1024:.1f} MiB (goal >= 20000 req/s)")
PY
