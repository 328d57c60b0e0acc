#!/usr/bin/env bash
# The pipeline integrations under integrations/ (docs/pipelines.md), each against the fake
# testcar-gate that plays back the gate's recorded outputs (integrations/testdata, kept equal to
# the real gate's by crates/testcar-gate/tests/it/wrapper_fixtures.rs):
#   Azure DevOps  npm test: the task under the task library's MockTestRunner, and the release
#                 download with its checksum; then the extension packaged with tfx-cli
#   GitHub        action.yml against SchemaStore's action schema; the step run the way the
#                 runner runs it (INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY); the docs'
#                 workflow through actionlint
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
# docs/pipelines.md's workflow, with the action taken from this tree, through actionlint
# (which checks the inputs given against action.yml); a workflow with a misspelt input must be
# refused. actionlint comes from scripts/setup.d/35-actionlint.sh.
if command -v actionlint >/dev/null; then
  repo="$work/repo"
  mkdir -p "$repo/.github/workflows" "$repo/integrations"
  cp -r integrations/github-action "$repo/integrations/"
  git -C "$repo" init -q
  awk '/^## GitHub Actions/ { s = 1; next } s && /^## / { s = 0 } s && /^```yaml/ { y = 1; next } y && /^```/ { exit } y' \
    docs/pipelines.md | sed 's|uses: testcar/testcar/integrations/github-action@v[0-9.]*|uses: ./integrations/github-action|' \
    > "$repo/.github/workflows/docs.yml"
  printf 'on: push\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: ./integrations/github-action\n        with: { namespace: shop, workloads: orders }\n' \
    > "$repo/.github/workflows/bad.yml"
  if grep -q 'uses: ./integrations/github-action' "$repo/.github/workflows/docs.yml"; then
    step "github: docs/pipelines.md's workflow passes actionlint with the action's inputs" \
      bash -c "cd '$repo' && actionlint -color=false .github/workflows/docs.yml"
  else
    echo "no workflow using the action found in docs/pipelines.md" > "$work/out"
    fail "github: docs/pipelines.md's workflow passes actionlint with the action's inputs"
  fi
  if (cd "$repo" && actionlint -color=false .github/workflows/bad.yml) >"$work/out" 2>&1; then
    fail "github: actionlint refuses a misspelt input of the action"
  elif grep -q 'input "workloads" is not defined in action "Testcar gate"' "$work/out"; then
    ok "github: actionlint refuses a misspelt input of the action"
  else
    fail "github: actionlint refuses a misspelt input of the action"
  fi
elif [ "${TESTCAR_REQUIRE_TOOLS:-}" = 1 ]; then
  echo "actionlint is not installed (scripts/setup.d/35-actionlint.sh)" > "$work/out"
  fail "github: docs/pipelines.md's workflow through actionlint"
else
  echo "skipped: actionlint not installed: docs/pipelines.md's workflow is not linted"
fi

step "gitlab: the template and an example pipeline against GitLab's CI JSON Schema; the job script with the fake gate" \
  python3 integrations/gitlab/test_gitlab.py

step "docs/pipelines.md: the Azure DevOps and GitLab snippets use declared inputs; the GitLab one passes the schema; the Inputs section names every input" \
  python3 integrations/check_docs_examples.py
sed 's/      workloadKind: deployment/      workloadKind: deploy/; s/      kube-context: /      kube-ctx: /; /^| mark a passed ReplicaSet verified /d' \
  docs/pipelines.md >"$work/bad.md"
if TESTCAR_PIPELINES_DOC="$work/bad.md" python3 integrations/check_docs_examples.py >"$work/out" 2>&1; then
  fail "docs/pipelines.md: snippets with a wrong pick-list value and an unknown input, and an undocumented input, are refused"
elif grep -q 'workloadKind: deploy is not one of' "$work/out" && grep -q 'input kube-ctx is not in' "$work/out" \
    && grep -q "GitHub Actions: input mark-verified is not in docs/pipelines.md's Inputs section" "$work/out"; then
  ok "docs/pipelines.md: snippets with a wrong pick-list value and an unknown input, and an undocumented input, are refused"
else
  fail "docs/pipelines.md: snippets with a wrong pick-list value and an unknown input, and an undocumented input, are refused"
fi

echo "pipelines: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
