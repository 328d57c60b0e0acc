#!/usr/bin/env bash
# cargo-deny for `make lint` (scripts/deny.sh, deny.toml): built from crates.io into
# .tools/bin when missing or not the pinned version. The build takes about 5-7 minutes on
# the 2-core machine, once; it is cached under .tools/ afterwards.
source "$(dirname "$0")/../lib.sh"
CARGO_DENY_VERSION="0.20.2"
have="$("$TOOLS/bin/cargo-deny" --version 2>/dev/null || true)"
if [ "$have" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  log "cargo install cargo-deny@$CARGO_DENY_VERSION into $TOOLS (a few minutes, once)"
  cargo install --quiet --locked --root "$TOOLS" "cargo-deny@$CARGO_DENY_VERSION"
fi
