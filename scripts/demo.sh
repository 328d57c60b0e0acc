#!/usr/bin/env bash
# The main job end-to-end on this machine. Until the agent runs tests, it renders the
# example runs from docs/examples/ as the agent would print them: summary and JUnit.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cargo build -q --workspace --bins
for ex in passed failed error; do
  log "docs/examples/$ex.json"
  ./target/debug/testcar-agent render "docs/examples/$ex.json" --junit "target/demo-$ex.junit.xml" || true
done
