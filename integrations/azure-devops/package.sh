#!/usr/bin/env bash
# Build the Azure DevOps extension (.vsix) with tfx-cli: the task compiled, with its runtime
# dependencies only. OUT (default: this folder) receives testcar.testcar-gate-VERSION.vsix.
#   bash integrations/azure-devops/package.sh [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
task="$here/TestcarGateV0"
(cd "$task" && { [ -d node_modules/typescript ] || npm install --no-audit --no-fund --loglevel=error; } && npx tsc -p .)
mkdir -p "$stage/TestcarGateV0"
cp "$here/vss-extension.json" "$here/README.md" "$stage/"
cp "$task/task.json" "$task/package.json" "$task/index.js" "$task/gatefetch.js" "$stage/TestcarGateV0/"
[ -f "$task/package-lock.json" ] && cp "$task/package-lock.json" "$stage/TestcarGateV0/"
(cd "$stage/TestcarGateV0" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
mkdir -p "$out"
tfx extension create --root "$stage" --manifest-globs vss-extension.json --output-path "$out" --no-prompt
