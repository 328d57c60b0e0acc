#!/usr/bin/env bash
# Rust components used by `make lint`, and Python for the tool-backed checks.
source "$(dirname "$0")/../lib.sh"
installed="$(rustup component list --installed 2>/dev/null || true)"
grep -q '^rustfmt' <<<"$installed" || rustup component add rustfmt
grep -q '^clippy' <<<"$installed" || rustup component add clippy
command -v python3 >/dev/null || apt_install python3 python3-pip
