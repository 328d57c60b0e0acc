#!/usr/bin/env bash
# The agent's tests and the demo drive HTTP from exec suites with curl; `script` (a
# pseudo-terminal) checks the live progress line.
source "$(dirname "$0")/../lib.sh"
command -v curl >/dev/null || apt_install curl ca-certificates
command -v script >/dev/null || apt_install bsdutils
