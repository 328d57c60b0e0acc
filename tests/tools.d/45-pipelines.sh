#!/usr/bin/env bash
# The pipeline integrations under integrations/ (docs/pipelines.md), each against the fake
# testcar-gate that plays back the gate's recorded outputs (integrations/testdata, kept equal to
# the real gate's by crates/testcar-gate/tests/wrapper_fixtures.rs):
#   Azure DevOps  npm test: the task under the task library's MockTestRunner, and the release
#                 download with its checksum; then the extension packaged with tfx-cli
#   GitHub        action.yml against SchemaStore's action schema; the step run the way the
#                 runner runs it (INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY)
#   GitLab        the template against GitLab's CI JSON Schema and its job script run locally
# Tools come from scripts/setup.d/45-pipelines.sh.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

task="$ROOT/integrations/azure-devops/TestcarGateV0"
missing=()
command -v node >/dev/null || missing+=(node)
[ -d "$task/node_modules/azure-pipelines-task-lib" ] && [ -d "$task/node_modules/mocha" ] || missing+=("the task's node_modules")
command -v tfx >/dev/null || missing+=(tfx-cli)
command -v check-jsonschema >/dev/null || missing+=(check-jsonschema)
python3 -c 'import yaml' 2>/dev/null || missing+=(PyYAML)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${TESTCAR_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "${missing[*]} required (TESTCAR_REQUIRE_TOOLS=1) but not installed; run scripts/setup.d/45-pipelines.sh" >&2
    exit 1
  fi
  echo "skipped: ${missing[*]} not installed (scripts/setup.d/45-pipelines.sh)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; sed 's/^/     /' "$work/out"; }
step() {
  local what="$1"
  shift
  if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; fi
}

step "azure devops: npm test (MockTestRunner: passed, failed, error/timeout, missing inputs, bad kubeconfig, service connections; release download)" \
  bash -c "cd '$task' && npm test"
if bash integrations/azure-devops/package.sh "$work/vsix" >"$work/out" 2>&1 \
    && python3 -m zipfile -l "$work"/vsix/*.vsix >"$work/list" 2>>"$work/out"; then
  if grep -q 'TestcarGateV0/task.json' "$work/list" && grep -q 'TestcarGateV0/index.js' "$work/list" \
      && grep -q 'TestcarGateV0/node_modules/azure-pipelines-task-lib/task.js' "$work/list" \
      && ! grep -q 'node_modules/typescript/' "$work/list"; then
    ok "azure devops: tfx extension create ($(basename "$work"/vsix/*.vsix): task, its runtime dependencies, no dev dependencies)"
  else
    cp "$work/list" "$work/out"; fail "azure devops: the .vsix holds the task and its runtime dependencies only"
  fi
else
  fail "azure devops: tfx extension create"
fi

step "github: action.yml against SchemaStore's github-action schema" \
  check-jsonschema --builtin-schema vendor.github-actions integrations/github-action/action.yml
step "github: the action's step run as the runner runs it (passed, failed, timeout, bad kubeconfig, inputs, release download)" \
  python3 integrations/github-action/test_action.py
if command -v shellcheck >/dev/null; then
  step "github: shellcheck run.sh" shellcheck integrations/github-action/run.sh
fi

step "gitlab: the template and an example pipeline against GitLab's CI JSON Schema; the job script with the fake gate" \
  python3 integrations/gitlab/test_gitlab.py

echo "pipelines: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
