#!/usr/bin/env bash
# The install path on a real single-node Kubernetes built on this machine: tests/cluster/e2e.sh
# (cluster from scripts/cluster/, tools from scripts/setup.d/80-cluster.sh).
source "$(dirname "$0")/../../scripts/lib.sh"
build_test_bins
exec bash "$ROOT/tests/cluster/e2e.sh"
