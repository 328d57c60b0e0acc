#!/usr/bin/env bash
# The pipeline integrations' test tools (tests/tools.d/45-pipelines.sh): the Azure DevOps
# task's npm dependencies (its lockfile, into integrations/azure-devops/TestcarGateV0/node_modules),
# tfx-cli for packaging the extension, check-jsonschema (which vendors GitLab's CI schema and
# SchemaStore's action schema) and PyYAML for the GitHub Action and GitLab tests. Each only
# when missing.
source "$(dirname "$0")/../lib.sh"
command -v npm >/dev/null || apt_install nodejs npm
task="$ROOT/integrations/azure-devops/TestcarGateV0"
stamp="$task/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$task/package-lock.json" -nt "$stamp" ]; then
  log "npm ci in integrations/azure-devops/TestcarGateV0"
  (cd "$task" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
npm_install tfx-cli@0.23
pip_install check_jsonschema=check-jsonschema yaml=PyYAML
