#!/usr/bin/env bash
# Linearizability checker: all Jepsen etcd histories together and porcupine's kv histories,
# against porcupine's reference times in tests/data/linearizability/README.md; then the big
# etcd histories (tests/data/linearizability/etcd64) against porcupine built from its Go module.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"
DATA="$ROOT/tests/data/linearizability"
[ -f "$DATA/README.md" ] || { echo "consistency bench: test data $DATA not found" >&2; exit 2; }
log "building the checker benchmark (release)"
cargo build -q --release -p testcar-consistency --example consistency-bench
BIN="$ROOT/target/release/examples/consistency-bench"
echo "== consistency checker =="
/usr/bin/time -f "process: %e s wall, %M KB max RSS" "$BIN" "$DATA" "${CONSISTENCY_BENCH_RUNS:-5}"

# Big register histories recorded from etcd (tests/data/linearizability/etcd64, README there):
# one process per history, so its time and peak RSS are its own; porcupine (built from its Go
# module when Go is installed) on the same files, its `Unknown` (timeout) a figure too.
BIG="$DATA/etcd64"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cargo build -q --release -p testcar-consistency --example check-history
CHECK="$ROOT/target/release/examples/check-history"
PORC=""
if command -v go >/dev/null 2>&1; then
  log "building porcupine (Go module github.com/anishathalye/porcupine, scripts/bench.d/porcupine)"
  if (cd "$ROOT/scripts/bench.d/porcupine" && go build -o "$TMP/porcupine-bench" .); then
    PORC="$TMP/porcupine-bench"
  else
    echo "porcupine: build failed; only Testcar's figures follow" >&2
  fi
else
  echo "porcupine: Go not installed; only Testcar's figures follow"
fi
PTIMEOUT="${PORCUPINE_TIMEOUT:-60}"
echo
echo "== big etcd register histories: Testcar vs porcupine (timeout ${PTIMEOUT}s each) =="
printf '%-34s %-18s %9s %9s   %-9s %9s %9s\n' history testcar s "MiB RSS" porcupine s "MiB RSS"
for gz in "$BIG"/register-*.jsonl.gz; do
  name="$(basename "$gz" .jsonl.gz)"
  f="$TMP/$name.jsonl"
  gzip -dc "$gz" > "$f"
  /usr/bin/time -f "%e %M" -o "$TMP/t" "$CHECK" --model register --timeout "${PTIMEOUT}s" "$f" > "$TMP/out" || true
  verdict="$(head -1 "$TMP/out" | sed -E 's/^[^:]*: ([a-z ]+):.*/\1/')"
  read -r ts tk < "$TMP/t"
  pv="-"; ps="-"; pm="-"
  if [ -n "$PORC" ]; then
    /usr/bin/time -f "%e %M" -o "$TMP/pt" "$PORC" "$PTIMEOUT" "$f" > "$TMP/pout" || true
    pv="$(sed -E 's/.*: ([A-Za-z]+) in .*/\1/' "$TMP/pout")"
    read -r ps pk < "$TMP/pt"
    pm="$((pk / 1024))"
  fi
  printf '%-34s %-18s %9s %9s   %-9s %9s %9s\n' "$name" "$verdict" "$ts" "$((tk / 1024))" "$pv" "$ps" "$pm"
done
