#!/usr/bin/env bash
# Rust components used by `make lint`, and Python for the tool-backed checks.
source "$(dirname "$0")/../lib.sh"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
command -v python3 >/dev/null || apt_install python3 python3-pip
