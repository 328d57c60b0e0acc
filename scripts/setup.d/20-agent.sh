#!/usr/bin/env bash
# The agent's tests and the demo drive HTTP from exec suites with curl; `script` (a
# pseudo-terminal) checks the live progress line; the kernel-fault tests need tc and iptables.
source "$(dirname "$0")/../lib.sh"
command -v curl >/dev/null || apt_install curl ca-certificates
command -v script >/dev/null || apt_install bsdutils
# The kernel network-fault tests (crates/testcar-agent/tests/it/kernel_faults.rs) run `tc`, `ip`
# and `iptables` inside a fresh network namespace (`unshare -rn`).
command -v tc >/dev/null && command -v ip >/dev/null || apt_install iproute2
command -v iptables >/dev/null || apt_install iptables
command -v unshare >/dev/null && command -v setpriv >/dev/null || apt_install util-linux
