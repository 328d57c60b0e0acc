# Shared by the local cluster's scripts (up, down, images, the e2e test). Source it.
# One state folder holds the whole cluster; every process started here names it in its
# command line, which is how down.sh finds what to stop even without pid files.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE="$ROOT/scripts/cluster"
DIR="${TESTCAR_CLUSTER_DIR:-$ROOT/target/cluster}"
mkdir -p "$DIR" && DIR="$(cd "$DIR" && pwd)"
NODE="${TESTCAR_NODE_NAME:-testcar-node}"
SOCK="$DIR/run/containerd.sock"
BRIDGE=tcbr0
POD_CIDR=10.244.0.0/24
PAUSE_IMAGE=testcar.local/pause:3
# The Testcar images the chart and the samples use on the local cluster.
IMAGE_TAG=dev
IMAGE_PREFIX=testcar.local

die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

# start NAME CMD...: run CMD in its own session, output in logs/NAME.log, pid in run/NAME.pid.
start() {
  local name="$1"; shift
  setsid "$@" </dev/null >"$DIR/logs/$name.log" 2>&1 &
  echo $! > "$DIR/run/$name.pid"
}

# alive NAME: the component started as NAME is still running.
alive() { [ -f "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: poll CMD every half second until it succeeds. On timeout, or
# when a component has died meanwhile, fail with the log tails.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    for pidfile in "$DIR"/run/*.pid; do
      [ -e "$pidfile" ] || continue
      local name; name="$(basename "$pidfile" .pid)"
      alive "$name" || { log_tails; die "$name exited while waiting for $what"; }
    done
    if [ $SECONDS -ge $deadline ]; then log_tails; die "timed out after ${secs}s waiting for $what"; fi
    sleep 0.5
  done
}

# log_tails [LINES]: the end of every component's log, so a red run can be read as it is.
log_tails() {
  local lines="${1:-25}"
  for f in "$DIR"/logs/*.log; do
    [ -s "$f" ] || continue
    printf '\n----- %s (last %s lines) -----\n' "$(basename "$f")" "$lines" >&2
    tail -n "$lines" "$f" >&2
  done
}

on_error() { log_tails; }

# pids_of_dir: processes whose command line names the state folder (every component, and the
# containerd shims, which are started with the socket's path).
pids_of_dir() { pgrep -f -- "$DIR/" | grep -vx "$$" || true; }

# leftovers: what a cluster of this folder could leave behind and still exists: processes,
# mounts, the bridge, pod network namespaces, the kubelet's cgroups and iptables chains.
# Prints nothing when all is gone.
leftovers() {
  local left="" p
  p="$(pids_of_dir)"
  [ -z "$p" ] || left="$left processes($(echo $p))"
  [ -z "$(awk -v d="$DIR/" 'index($2, d) == 1' /proc/self/mounts)" ] || left="$left mounts"
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || left="$left bridge:$BRIDGE"
  [ -z "$(ip netns list 2>/dev/null | awk '/^cni-/')" ] || left="$left netns:cni-*"
  [ -z "$(ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods 2>/dev/null)" ] || left="$left cgroups:kubepods"
  local ipt
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      [ -z "$("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/')" ] || left="$left $ipt:$table:KUBE-*"
    done
  done
  echo "${left# }"
}

api_ready() {
  # shellcheck disable=SC1091
  source "$DIR/env"
  curl -fsS --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key" \
    "https://$NODE_IP:$API_PORT/readyz" >/dev/null
}

# helm_install_local [HELM ARGS...]: install charts/testcar as users get it, with values only
# for the local images and their pull policy.
helm_install_local() {
  helm install testcar "$ROOT/charts/testcar" -n testcar-system --create-namespace \
    --set image.repository="$IMAGE_PREFIX/testcar-injector" --set image.tag="$IMAGE_TAG" \
    --set image.pullPolicy=Never \
    --set agent.image.repository="$IMAGE_PREFIX/testcar-agent" --set agent.image.tag="$IMAGE_TAG" \
    --set agent.imagePullPolicy=Never "$@"
}
