#!/usr/bin/env bash
# The local Kubernetes cluster (tests/tools.d/60-cluster.sh, make cluster-demo): containerd,
# runc, the CNI plugins, iptables and a static busybox for the images' shells from Debian; the
# Kubernetes components, etcd and the pause program built from their Go modules into the
# per-user cache (scripts/cluster/build.sh, a no-op when the pins have not changed).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install containerd runc containernetworking-plugins iptables iproute2 conntrack busybox-static binutils jq curl ca-certificates
command -v go >/dev/null || { echo "80-cluster: go is missing (Go 1.25+ builds the cluster)" >&2; exit 1; }
bash "$ROOT/scripts/cluster/build.sh" >/dev/null
