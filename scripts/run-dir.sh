#!/usr/bin/env bash
# Run every *.sh in a folder in name order; fail at the end if any failed.
source "$(dirname "$0")/lib.sh"
dir="$1"
failed=()
for f in "$ROOT/$dir"/*.sh; do
  [ -e "$f" ] || continue
  log "run: $dir/$(basename "$f")"
  if ! bash "$f"; then failed+=("$(basename "$f")"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
