#!/usr/bin/env bash
# Real Artillery 2.x for the compatibility corpus (`make compat`) and the bench, plus wrk as
# the bench's floor. Install scripts are skipped: Artillery runs fine without them.
source "$(dirname "$0")/../lib.sh"
npm_install artillery@2
command -v wrk >/dev/null || apt_install wrk
