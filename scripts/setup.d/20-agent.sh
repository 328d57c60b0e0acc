#!/usr/bin/env bash
# The agent's tests and the demo drive HTTP from exec suites with curl.
source "$(dirname "$0")/../lib.sh"
command -v curl >/dev/null || apt_install curl ca-certificates
