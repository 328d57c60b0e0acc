#!/usr/bin/env bash
# etcd for the consistency suite's real-target test (crates/testcar-consistency/tests/it/etcd.rs).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install etcd-server
