#!/usr/bin/env bash
# Headless Chromium for the HTML report tests (crates/testcar-report/tests/it/chromium.rs).
source "$(dirname "$0")/../lib.sh"
command -v chromium >/dev/null || apt_install chromium
