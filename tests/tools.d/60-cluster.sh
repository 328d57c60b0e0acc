#!/usr/bin/env bash
# The install path on a real single-node Kubernetes built on this machine (cluster from
# scripts/cluster/, tools from scripts/setup.d/80-cluster.sh): first a bring-up killed halfway
# must still be torn down to nothing, then tests/cluster/e2e.sh, which must leave nothing either.
source "$(dirname "$0")/../../scripts/cluster/cluster-lib.sh"
build_test_bins

# --- an interrupted bring-up: the script dies, its components (own sessions) live on -------
setsid bash "$HERE/up.sh" >"$ROOT/target/cluster-interrupted.log" 2>&1 &
up=$!
deadline=$((SECONDS + 180))
until [ -f "$DIR/run/containerd.pid" ] && alive containerd; do
  if ! kill -0 "$up" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    cat "$ROOT/target/cluster-interrupted.log" >&2
    die "60-cluster: the bring-up to interrupt never reached containerd"
  fi
  sleep 0.2
done
kill -TERM -- "-$up" 2>/dev/null || kill -TERM "$up"
wait "$up" 2>/dev/null || true
[ -n "$(pids_of_dir)" ] || die "60-cluster: nothing was running after the interrupted bring-up (the check would prove nothing)"
bash "$HERE/down.sh" || die "60-cluster: teardown of an interrupted bring-up failed"
left="$(leftovers)"
[ -z "$left" ] || die "60-cluster: left behind after an interrupted bring-up: $left"
printf 'ok   an interrupted bring-up is torn down to nothing\n'

# --- the end-to-end run --------------------------------------------------------------------
code=0
bash "$ROOT/tests/cluster/e2e.sh" || code=$?
left="$(leftovers)"
[ -z "$left" ] || die "60-cluster: left behind after the e2e run: $left"
printf 'ok   nothing left behind after the e2e run (processes, mounts, bridge, netns, cgroups, iptables)\n'
exit "$code"
