#!/usr/bin/env bash
# docs/troubleshooting.md stays true to the code: every message it quotes (### `message`)
# still occurs in the crates' source (tests/docs/check_messages.py). The check must bite: a
# page quoting a message the code does not print is refused.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

code=0
python3 tests/docs/check_messages.py docs/troubleshooting.md || code=1

printf '# t\n\n### `the service was not ready after <duration>: it was never asked`\n' >"$work/bad.md"
if python3 tests/docs/check_messages.py "$work/bad.md" >"$work/out" 2>&1; then
  echo "FAIL a quoted message the code does not print is refused"; sed 's/^/     /' "$work/out"
  code=1
else
  echo "ok   a quoted message the code does not print is refused"
fi
exit "$code"
