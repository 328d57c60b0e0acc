#!/usr/bin/env bash
# actionlint for the workflow check (tests/tools.d/15-workflows.sh): built from its Go module
# into .tools/bin when missing or not the pinned version (about a minute, once; cached under
# .tools/ afterwards), and Debian's shellcheck, which actionlint runs on every `run:` script.
source "$(dirname "$0")/../lib.sh"
ACTIONLINT_VERSION="v1.7.12"
have="$("$TOOLS/bin/actionlint" -version 2>/dev/null || true)"
if [ "${have%%$'\n'*}" != "$ACTIONLINT_VERSION" ]; then
  command -v go >/dev/null || { echo "35-actionlint: go is missing (actionlint builds from its Go module)" >&2; exit 1; }
  log "go install actionlint@$ACTIONLINT_VERSION into $TOOLS/bin (about a minute, once)"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false \
    go install -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi
command -v shellcheck >/dev/null || apt_install shellcheck
