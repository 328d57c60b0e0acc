#!/usr/bin/env bash
# The GitHub workflows (.github/workflows/: ci.yml, release.yml), which cannot run here:
# actionlint checks their syntax, expressions, job graph, runner labels and action inputs, and
# runs shellcheck on every `run:` script when shellcheck is installed; every action is pinned
# by a full commit SHA with the release named in a comment. A deliberately broken workflow must
# be refused, so that the check is known to bite. Tools come from scripts/setup.d/35-actionlint.sh.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

if ! command -v actionlint >/dev/null; then
  if [ "${TESTCAR_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "actionlint is required (TESTCAR_REQUIRE_TOOLS=1) but not installed; run scripts/setup.d/35-actionlint.sh" >&2
    exit 1
  fi
  echo "skipped: actionlint not installed (scripts/setup.d/35-actionlint.sh)"
  exit 0
fi
if command -v shellcheck >/dev/null; then
  shellcheck_note="with shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
else
  shellcheck_note="without shellcheck (not installed: run: scripts are not checked)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; }

workflows=(.github/workflows/*.yml)
[ -e "${workflows[0]}" ] || { echo "15-workflows: no workflow in .github/workflows" >&2; exit 1; }

if actionlint -color=false "${workflows[@]}" >"$work/out" 2>&1; then
  ok "actionlint $(actionlint -version | sed -n 1p) $shellcheck_note: ${workflows[*]}"
else
  fail "actionlint ${workflows[*]}"; sed 's/^/     /' "$work/out"
fi

# Every `uses:` of a remote action names a full commit SHA and, in a comment, its release.
if grep -nE '^\s*(-\s+)?uses:' "${workflows[@]}" | grep -vE 'uses:\s+\./' \
    | grep -vE 'uses:\s+[^@[:space:]]+@[0-9a-f]{40}\s+#\s+v[0-9]' >"$work/unpinned"; then
  fail "every action is pinned by commit SHA with its version in a comment"; sed 's/^/     /' "$work/unpinned"
else
  ok "every action is pinned by commit SHA with its version in a comment"
fi

# Dependabot's configuration (base image digests, action commits) is valid for Dependabot.
if ! command -v check-jsonschema >/dev/null; then
  fail "check-jsonschema is missing (scripts/setup.d/45-pipelines.sh installs it)"
elif check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml >"$work/out" 2>&1; then
  ok ".github/dependabot.yml is valid against Dependabot's schema"
else
  fail ".github/dependabot.yml is valid against Dependabot's schema"; sed 's/^/     /' "$work/out"
fi
printf 'version: 2\nupdates:\n  - package-ecosystem: dockr\n    directory: /\n    schedule: {interval: weekly}\n' >"$work/dependabot.yml"
if command -v check-jsonschema >/dev/null \
    && ! check-jsonschema --builtin-schema vendor.dependabot "$work/dependabot.yml" >"$work/out" 2>&1 \
    && grep -q "'dockr' is not one of" "$work/out"; then
  ok "a misspelt Dependabot ecosystem is refused, naming it"
else
  fail "a misspelt Dependabot ecosystem is refused, naming it"; sed 's/^/     /' "$work/out"
fi
ecosystems="$(sed -n 's/^ *- package-ecosystem: *//p' .github/dependabot.yml | sort | tr '\n' ' ')"
if [ "$ecosystems" = "docker github-actions " ]; then
  ok "Dependabot updates the base image pins and the action pins"
else
  fail "Dependabot updates the base image pins and the action pins (found: $ecosystems)"
fi

# ...and the check bites: an unknown job in `needs`, a bad expression and (with shellcheck) an
# unquoted variable must each be reported.
mkdir -p "$work/repo/.github/workflows"
cat >"$work/repo/.github/workflows/broken.yml" <<'YAML'
name: broken
on:
  push:
    tags: ["v*"]
jobs:
  build:
    runs-on: ubuntu-24.04
    needs: [no-such-job]
    steps:
      - run: echo ${{ github.event.no_such_context.value }}
      - run: rm -rf $UNQUOTED/*
YAML
(cd "$work/repo" && actionlint -color=false .github/workflows/broken.yml) >"$work/out" 2>&1 && code=0 || code=$?
wanted=("no-such-job")
command -v shellcheck >/dev/null && wanted+=("SC2086")
missing=()
for w in "${wanted[@]}"; do grep -q "$w" "$work/out" || missing+=("$w"); done
if [ "$code" -ne 0 ] && [ ${#missing[@]} -eq 0 ]; then
  ok "a broken workflow is refused (${wanted[*]})"
else
  fail "a broken workflow is refused (exit $code, not reported: ${missing[*]:-none})"; sed 's/^/     /' "$work/out"
fi

echo "workflows: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
