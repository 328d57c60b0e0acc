#!/usr/bin/env bash
# Injector throughput and latency over TLS keep-alive, side by side with a static TLS 200
# from nginx (the named peer) in the same run, both pinned to one core, loaded by wrk from
# another core at the same fixed concurrency with the same ~10 KB AdmissionReview body.
# Prints admissions/s, p50/p99, the ratios to nginx, and the injector's RSS.
# Targets: >= 5,000 admissions/s on one core, p99 <= 2 ms, RSS <= 30 MiB.
source "$(dirname "$0")/../lib.sh"

apt_install wrk nginx-light openssl python3 || apt_install wrk nginx openssl python3

BIN="${TESTCAR_INJECTOR_BIN:-$ROOT/target/release/testcar-injector}"
[ -x "$BIN" ] || { log "building the release injector"; (cd "$ROOT" && cargo build --release -p testcar-injector); }
CONNS="${BENCH_CONNECTIONS:-8}"
DURATION="${BENCH_DURATION:-10s}"
SERVER_CPU="${BENCH_SERVER_CPU:-0}"
CLIENT_CPU="${BENCH_CLIENT_CPU:-1}"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A CA and a serving certificate, as cert-manager would issue them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj /CN=localhost -keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/ext" -out "$WORK/tls.crt" 2>/dev/null

# A ~10 KB review: the Deployment-made pod fixture plus a realistic last-applied annotation.
python3 - "$ROOT/crates/testcar-injector/test_data/deployment-pod.review.json" "$WORK/review.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
obj = r["request"]["object"]
template = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {"template": {"metadata": {"annotations": {"testcar.io/inject": "true"}}, "spec": obj["spec"]}}}
obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(template)
body = json.dumps(r)
pad = 10 * 1024 - len(body)
if pad > 0:
    obj["metadata"]["annotations"]["example.com/notes"] = "x" * pad
open(sys.argv[2], "w").write(json.dumps(r))
PY
BYTES=$(wc -c < "$WORK/review.json")

cat > "$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

# The injector, one core, one worker thread, logging every decision as in production.
TLS_PORT=$(free_port); OPS_PORT=$(free_port)
TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BIN" \
  --listen "127.0.0.1:$TLS_PORT" --metrics-listen "127.0.0.1:$OPS_PORT" \
  --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" --log-format json \
  2> "$WORK/injector.log" &
INJ_PID=$!; PIDS+=("$INJ_PID")

# nginx: one worker on the same core, TLS 1.2/1.3, the same certificate, a fixed 200.
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  client_max_body_size 4m;
  client_body_buffer_size 64k;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/tls.crt;
    ssl_certificate_key $WORK/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 200 '{"allowed":true}'; }
  }
}
NGX
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" &
NGX_PID=$!; PIDS+=("$NGX_PID")

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && \
    curl -fsSk "https://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done

# The injector must really inject this review, or the numbers mean nothing.
curl -fsS --cacert "$WORK/ca.crt" -H 'content-type: application/json' --data-binary @"$WORK/review.json" \
  "https://localhost:$TLS_PORT/mutate" | python3 -c '
import json, sys
r = json.load(sys.stdin)["response"]
assert r["allowed"] and r.get("patchType") == "JSONPatch", r
' || { echo "injector did not inject the bench review" >&2; exit 1; }

run_wrk() { # URL OUT
  BODY_FILE="$WORK/review.json" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d2s -s "$WORK/post.lua" "$1" >/dev/null
  BODY_FILE="$WORK/review.json" taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "$1" > "$2"
}
run_wrk "https://127.0.0.1:$TLS_PORT/mutate" "$WORK/wrk-injector.txt"
run_wrk "https://127.0.0.1:$NGINX_PORT/" "$WORK/wrk-nginx.txt"

RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$INJ_PID/status")
HWM_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$INJ_PID/status")
INJECTED=$(curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" | awk '/^testcar_injector_admissions_total\{decision="injected"/ {print $2}')

python3 - "$WORK/wrk-injector.txt" "$WORK/wrk-nginx.txt" "$RSS_KB" "$HWM_KB" "$BYTES" "$CONNS" "$DURATION" "${INJECTED:-0}" <<'PY'
import re, sys
def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    pct = {}
    for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        pct[p] = float(v) * unit[u]
    errors = re.search(r"Socket errors: (.*)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, pct, errors.group(1) if errors else "none", int(non2xx.group(1)) if non2xx else 0
inj, ngx = parse(sys.argv[1]), parse(sys.argv[2])
rss, hwm, size, conns, dur, injected = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
print(f"== injector bench: {size} B AdmissionReview, TLS keep-alive, {conns} connections, {dur}, server pinned to one core")
print(f"{'':22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}  errors")
for name, (rps, pct, err, bad) in (("testcar-injector", inj), ("nginx static 200", ngx)):
    print(f"{name:22}{rps:10.0f}{pct.get('50', float('nan')):9.3f}{pct.get('99', float('nan')):9.3f}  sockets: {err}; non-2xx: {bad}")
print(f"ratio injector/nginx: throughput {inj[0] / ngx[0]:.2f}x, p50 {inj[1]['50'] / ngx[1]['50']:.2f}x, p99 {inj[1]['99'] / ngx[1]['99']:.2f}x")
print(f"injector RSS: {rss / 1024:.1f} MiB now, {hwm / 1024:.1f} MiB peak; injected admissions counted: {injected}")
def verdict(ok): return "met" if ok else "NOT met"
print(f"targets: >= 5000 admissions/s: {verdict(inj[0] >= 5000)}; p99 <= 2 ms: {verdict(inj[1]['99'] <= 2.0)}; RSS <= 30 MiB: {verdict(hwm <= 30 * 1024)}")
PY
