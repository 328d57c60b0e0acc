#!/usr/bin/env bash
# The Artillery compatibility corpus through real Artillery and Testcar (`make compat`).
source "$(dirname "$0")/../../scripts/lib.sh"
if [ ! -x "$TOOLS/node_modules/.bin/artillery" ]; then
  if [ "${TESTCAR_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "artillery is required (TESTCAR_REQUIRE_TOOLS=1) but not installed; run make setup" >&2
    exit 1
  fi
  echo "skipped: artillery not installed"
  exit 0
fi
exec bash "$ROOT/tests/artillery-compat/compat.sh"
