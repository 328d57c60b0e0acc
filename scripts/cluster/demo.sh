#!/usr/bin/env bash
# `make cluster-demo`: Testcar on a real single-node Kubernetes on this machine, as a newcomer
# would try it: bring the cluster up, helm install the chart, kubectl apply a passing and a
# failing sample, read the verdicts from the pod logs, run the gate on both. The cluster is
# removed at the end unless TESTCAR_KEEP_CLUSTER=1 (then: export KUBECONFIG=$DIR/kubeconfig).
source "$(dirname "$0")/cluster-lib.sh"
cd "$ROOT"
GATE="$ROOT/target/debug/testcar-gate"
finish() {
  local rc=$?
  [ "$rc" = 0 ] || log_tails 20
  if [ -n "${TESTCAR_KEEP_CLUSTER:-}" ]; then
    log "the cluster stays up: export KUBECONFIG=$DIR/kubeconfig; make cluster-down removes it"
  else
    bash "$HERE/down.sh"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

build_test_bins
bash "$HERE/up.sh"
# shellcheck disable=SC1091
source "$DIR/env"

log "helm install testcar charts/testcar -n testcar-system (local images)"
helm_install_local --wait --timeout 5m
kubectl -n testcar-system get pods

log "a namespace that enforces Pod Security 'restricted', and two samples"
kubectl create namespace demo
kubectl label namespace demo pod-security.kubernetes.io/enforce=restricted
kubectl -n demo apply -f examples/local-cluster/shared.yaml -f examples/local-cluster/failing.yaml
kubectl -n demo rollout status deploy/sample-shared --timeout=240s
kubectl -n demo rollout status deploy/sample-failing --timeout=240s
kubectl -n demo get pods -o wide

for d in sample-shared sample-failing; do
  log "testcar-gate -n demo --deployment $d"
  code=0
  "$GATE" -n demo --deployment "$d" --timeout 3m --junit "$DIR/$d.junit.xml" || code=$?
  log "gate exit code for $d: $code (0 passed, 1 failed, 2 error)"
  log "kubectl -n demo logs deploy/$d -c testcar --tail=1 | jq -r .status"
  kubectl -n demo logs "deploy/$d" -c testcar --tail=1 | jq -r .status
  want=0; [ "$d" = sample-failing ] && want=1
  [ "$code" = "$want" ] || { log "expected exit code $want for $d"; exit 1; }
done
log "done: the passing sample passed the gate, the failing one failed it"
