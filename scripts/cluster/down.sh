#!/usr/bin/env bash
# Tear the local cluster down and leave nothing behind: its processes (control plane, kubelet,
# containerd, shims and every container), the pods' network namespaces and veth pairs, the
# bridge, mounts under the state folder, the pods' cgroups, the iptables chains the kubelet
# made, and the state folder itself. Safe to run twice, or on a half-started cluster.
#   usage: down.sh [--keep-logs]    (--keep-logs keeps $DIR/logs for reading afterwards)
source "$(dirname "$0")/cluster-lib.sh"
keep_logs=false
[ "${1:-}" = "--keep-logs" ] && keep_logs=true
# The marker guards against a mistyped TESTCAR_CLUSTER_DIR: only a folder up.sh made is removed.
[ -f "$DIR/.testcar-cluster" ] || exit 0

# 1. The kubelet first, so that it does not restart what is being stopped.
for name in kubelet kube-scheduler kube-controller-manager; do
  [ -f "$DIR/run/$name.pid" ] && kill "$(cat "$DIR/run/$name.pid")" 2>/dev/null || true
done

# 2. Every container: the pods' processes live in the kubelet's cgroup tree (kubepods).
kill_cgroup_tree() {
  local sig="$1" f
  for f in /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/**/cgroup.procs \
           /sys/fs/cgroup/kubepods/cgroup.procs; do
    [ -f "$f" ] || continue
    xargs -r kill "-$sig" < "$f" 2>/dev/null || true
  done
}
shopt -s globstar nullglob
kill_cgroup_tree KILL

# 3. The rest: containerd and its shims, the API server, etcd.
for _ in 1 2 3; do
  pids="$(pids_of_dir)"
  [ -n "$pids" ] || break
  kill $pids 2>/dev/null || true
  for _ in $(seq 20); do [ -z "$(pids_of_dir)" ] && break; sleep 0.25; done
done
pids="$(pids_of_dir)"
[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
kill_cgroup_tree KILL
sleep 0.2

# 4. Network: the pods' namespaces (containerd names them cni-*), their veths go with them.
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
  ip netns delete "$ns" 2>/dev/null || true
done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" 2>/dev/null || true

# 5. Mounts under the state folder (deepest first), then the pods' cgroups (leaves first).
for _ in 1 2 3; do
  mounts="$(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)"
  [ -n "$mounts" ] || break
  for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
done
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [ -d "$root" ] || continue
  find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done

# 6. iptables chains the kubelet creates (KUBE-*), IPv4 and IPv6, in the tables it uses.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle; do
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
      "$ipt" -t "$table" -S 2>/dev/null | awk -v c="$chain" '$1 == "-A" && $0 ~ "-j " c "( |$)" {print}' \
        | sed 's/^-A /-D /' | while read -r rule; do eval "$ipt" -t "$table" "$rule" 2>/dev/null || true; done
      "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
done

# 7. What is left over is reported, not hidden.
left="$(leftovers)"
if $keep_logs; then
  find "$DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null || true
else
  rm -rf "$DIR" 2>/dev/null || true
fi
[ -z "$left" ] || die "left behind after teardown: $left"
log "cluster down"
