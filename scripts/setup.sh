#!/usr/bin/env bash
# Install everything the tests and benchmarks need, only what is missing. Each part lives
# in scripts/setup.d/NAME.sh and is idempotent.
source "$(dirname "$0")/lib.sh"
for f in "$ROOT"/scripts/setup.d/*.sh; do
  [ -e "$f" ] || continue
  log "setup: $(basename "$f")"
  bash "$f"
done
