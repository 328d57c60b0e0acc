#!/usr/bin/env bash
# Linearizability checker: all Jepsen etcd histories together and porcupine's kv histories,
# against porcupine's reference times in tests/data/linearizability/README.md (no Go here).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"
DATA="$ROOT/tests/data/linearizability"
[ -f "$DATA/README.md" ] || { echo "consistency bench: test data $DATA not found" >&2; exit 2; }
log "building the checker benchmark (release)"
cargo build -q --release -p testcar-consistency --example consistency-bench
BIN="$ROOT/target/release/examples/consistency-bench"
echo "== consistency checker =="
/usr/bin/time -f "process: %e s wall, %M KB max RSS" "$BIN" "$DATA" "${CONSISTENCY_BENCH_RUNS:-5}"
