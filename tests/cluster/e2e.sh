#!/usr/bin/env bash
# A platform team's first hour, on a real single-node Kubernetes built on this machine
# (scripts/cluster/up.sh): helm install the chart as users get it, kubectl apply annotated
# Deployments, let the real API server call the webhook, run the gate, scale out a version the
# gate verified (no load test again) — then the failure cases: a restarted sidecar, the
# injector scaled to zero, a re-applied injected pod, a rotated serving certificate. Every step
# asserts. The cluster is torn down at the end, also when a step fails or the run is
# interrupted; a failure prints the components' log tails.
source "$(dirname "$0")/../../scripts/cluster/cluster-lib.sh"
cd "$ROOT"

SYS=testcar-system
NS=demo
INJECTOR=testcar-injector
GATE="$ROOT/target/debug/testcar-gate"
W="$DIR/e2e"
started=$SECONDS
checks=0

ok() { checks=$((checks + 1)); printf 'ok   %s (%ss)\n' "$1" "$((SECONDS - started))"; }
fail() { printf 'FAIL %s\n' "$1" >&2; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/     /' >&2; exit 1; }

diagnostics() {
  echo "----- cluster state -----" >&2
  kubectl get nodes -o wide >&2 2>&1 || true
  kubectl get pods -A -o wide >&2 2>&1 || true
  kubectl get events -A --sort-by=.lastTimestamp 2>&1 | tail -n 40 >&2 || true
  for p in $(kubectl -n "$SYS" get pods -o name 2>/dev/null); do
    echo "----- $p -----" >&2; kubectl -n "$SYS" logs "$p" --tail=30 >&2 2>&1 || true
  done
  for p in $(kubectl -n "$NS" get pods -o name 2>/dev/null); do
    echo "----- $p -c testcar -----" >&2; kubectl -n "$NS" logs "$p" -c testcar --tail=15 >&2 2>&1 || true
  done
  log_tails 30
}
finish() {
  local rc=$?
  trap - EXIT INT TERM
  [ "$rc" = 0 ] || diagnostics
  if [ -n "${TESTCAR_KEEP_CLUSTER:-}" ]; then
    log "TESTCAR_KEEP_CLUSTER is set: the cluster stays up ($DIR); scripts/cluster/down.sh removes it"
  else
    bash "$HERE/down.sh" || rc=1
  fi
  log "e2e: $checks checks in $((SECONDS - started)) s, exit $rc"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

bash "$HERE/up.sh"
# shellcheck disable=SC1091
source "$DIR/env"
mkdir -p "$W"
ok "cluster up: node $NODE Ready, $(kubectl version -o json | jq -r .serverVersion.gitVersion)"

# verdict_of POD: the verdict line of the pod's sidecar log (empty while there is none).
verdict_of() { kubectl -n "$NS" logs "$1" -c testcar 2>/dev/null | grep -F '"testcar.io/result/v1"' | tail -n 1 || true; }
# pod_of DEPLOYMENT: the name of the newest pod of the Deployment's current ReplicaSet.
pod_of() {
  kubectl -n "$NS" get pods -l "app.kubernetes.io/name=$1" -o json | jq -r '[.items[]
    | select(.metadata.deletionTimestamp == null)] | sort_by(.metadata.creationTimestamp) | last | .metadata.name // empty'
}
# testcar_containers JSON: how many containers (regular or init) named testcar a pod has.
testcar_containers() { jq '[(.spec.containers + (.spec.initContainers // []))[] | select(.name == "testcar")] | length'; }
# until_true SECONDS WHAT CMD...: poll CMD once a second; fail with WHAT after SECONDS.
until_true() {
  local secs="$1" what="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${secs}s: $what"
    sleep 1
  done
}
# dry_run_pod NAME: a server-side dry-run create of a minimal opted-in pod: the API server calls
# the webhook (sideEffects None) and validates the patched pod; prints the resulting pod JSON.
dry_run_pod() {
  kubectl -n "$NS" create --dry-run=server -o json -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  annotations: {testcar.io/inject: "true", testcar.io/tests: "configmap:sample-configmap-tests", testcar.io/target: "http://127.0.0.1:8080"}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: app
      image: $IMAGE_PREFIX/sample-service:$IMAGE_TAG
      imagePullPolicy: Never
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
EOF
}

# webhook_injects NAME: the dry-run pod NAME comes back with one testcar container.
webhook_injects() { [ "$(dry_run_pod "$1" 2>/dev/null | testcar_containers)" = 1 ]; }
# injector_ips: the pod IPs of the live (not terminating) injector pods.
injector_ips() {
  kubectl -n "$SYS" get pods -l app.kubernetes.io/component=injector -o json \
    | jq -r '.items[] | select(.metadata.deletionTimestamp == null and .status.podIP != null) | .status.podIP'
}
# admissions_seen: reviews the injectors have answered, summed over their /metrics.
admissions_seen() {
  local ip total=0 n
  for ip in $(injector_ips); do
    n="$(curl -fsS "http://$ip:9090/metrics" | awk '/^testcar_injector_admissions_total/ {s += $2} END {print s + 0}')"
    total=$((total + n))
  done
  echo "$total"
}

# ---------------------------------------------------------------------------------------------
# 2. helm install, values only for the local images and their pull policy.
helm_install_local --wait --timeout 5m > "$W/helm-install.txt" 2>&1 || fail "helm install" "$(tail -n 20 "$W/helm-install.txt")"
ok "helm install testcar charts/testcar"

ready="$(kubectl -n "$SYS" get deploy "$INJECTOR" -o jsonpath='{.status.readyReplicas}')"
want="$(kubectl -n "$SYS" get deploy "$INJECTOR" -o jsonpath='{.spec.replicas}')"
[ "$ready" = "$want" ] && [ "$ready" -ge 1 ] || fail "injector pods Ready: $ready of $want"
ok "injector pods Ready ($ready of $want)"

kubectl -n "$SYS" get secret "$INJECTOR-tls" -o json > "$W/tls.json"
jq -r '.data["ca.crt"]' "$W/tls.json" | base64 -d > "$W/ca.crt"
jq -r '.data["tls.crt"]' "$W/tls.json" | base64 -d > "$W/tls.crt"
bundle="$(kubectl get mutatingwebhookconfiguration "$INJECTOR-$SYS" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d)"
[ "$bundle" = "$(cat "$W/ca.crt")" ] || fail "the webhook's caBundle is the CA in the serving Secret"
openssl verify -CAfile "$W/ca.crt" "$W/tls.crt" >/dev/null 2>&1 || fail "the serving certificate is signed by the caBundle's CA"
grep -q "DNS:$INJECTOR.$SYS.svc" <<<"$(openssl x509 -in "$W/tls.crt" -noout -ext subjectAltName)" \
  || fail "the serving certificate names $INJECTOR.$SYS.svc" "$(openssl x509 -in "$W/tls.crt" -noout -ext subjectAltName)"
ok "caBundle is the CA that signed the serving certificate for $INJECTOR.$SYS.svc"

# Ready pods reach the API server's endpoint cache a moment later; until then a pod would be
# let through uninjected (failurePolicy Ignore), so the samples wait for a first injection.
kubectl create namespace "$NS" >/dev/null
until_true 60 "the API server reaches the webhook through its Service" webhook_injects first-call
ok "the API server calls the webhook through its Service (dry-run pod injected)"

# matchConditions: a pod that says nothing to Testcar is never sent to the injector.
before="$(admissions_seen)"
kubectl -n "$NS" create --dry-run=server -o json -f - > /dev/null <<EOF || fail "a plain pod is admitted"
apiVersion: v1
kind: Pod
metadata: {name: plain, annotations: {example.com/owner: someone}}
spec: {containers: [{name: app, image: $IMAGE_PREFIX/sample-service:$IMAGE_TAG}]}
EOF
[ "$(admissions_seen)" = "$before" ] || fail "a pod without testcar.io/ annotations is not sent to the injector ($before → $(admissions_seen))"
webhook_injects counted
[ "$(admissions_seen)" -gt "$before" ] || fail "an opted-in pod is counted by the injector's metrics"
ok "matchConditions: pods without a testcar.io/ annotation never reach the injector (admissions $before → $(admissions_seen) only for the opted-in one)"

# ---------------------------------------------------------------------------------------------
# 3. and 4. kubectl apply the samples into a namespace that enforces Pod Security restricted.
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest >/dev/null
samples=(shared configmap copy failing)
for s in "${samples[@]}"; do
  kubectl -n "$NS" apply -f "examples/local-cluster/$s.yaml" > "$W/apply-$s.txt" 2>&1 \
    || fail "kubectl apply -f examples/local-cluster/$s.yaml" "$(cat "$W/apply-$s.txt")"
done
ok "kubectl apply of ${#samples[@]} samples (shared, configmap:, copy:, and a failing one)"

for s in "${samples[@]}"; do
  d="sample-$s"
  kubectl -n "$NS" rollout status "deploy/$d" --timeout=240s > "$W/rollout-$s.txt" 2>&1 \
    || fail "rollout of $d" "$(cat "$W/rollout-$s.txt")"
  pod="$(pod_of "$d")"
  kubectl -n "$NS" get pod "$pod" -o json > "$W/pod-$s.json"
  jq -e '.metadata.ownerReferences[0].kind == "ReplicaSet"' "$W/pod-$s.json" >/dev/null \
    || fail "$pod was created by its ReplicaSet"
  jq -e '.metadata.annotations["testcar.io/status"] == "injected"' "$W/pod-$s.json" >/dev/null \
    || fail "$pod is marked testcar.io/status: injected" "$(jq .metadata.annotations "$W/pod-$s.json")"
  [ "$(testcar_containers < "$W/pod-$s.json")" = 1 ] || fail "$pod has one testcar container"
  jq -e '.spec.nodeName != null and .status.phase == "Running"' "$W/pod-$s.json" >/dev/null \
    || fail "$pod is scheduled and running"
  until_true 240 "a verdict in the log of $pod" bash -c "[ -n \"\$(kubectl -n $NS logs $pod -c testcar 2>/dev/null | grep -F testcar.io/result/v1)\" ]"
  verdict="$(verdict_of "$pod")"
  want=passed; [ "$s" = failing ] && want=failed
  status="$(jq -r .status <<<"$verdict")"
  [ "$status" = "$want" ] || fail "$pod's verdict is $want, not $status" "$verdict"
  last="$(kubectl -n "$NS" logs "$pod" -c testcar --tail=1 | jq -r .status 2>/dev/null || true)"
  [ "$last" = "$want" ] || fail "the verdict is the last line of $pod's testcar log (kubectl logs --tail=1)" \
    "$(kubectl -n "$NS" logs "$pod" -c testcar --tail=3)"
  ok "$d: admitted by the webhook and Pod Security restricted, ran, verdict $status (last log line)"
done
# The configmap sample also runs an exec suite with the agent image's shell and curl.
jq -e '.suites | map(select(.name == "items-by-curl" and .runner == "exec" and .status == "passed")) | length == 1' \
  <<<"$(verdict_of "$(pod_of sample-configmap)")" >/dev/null \
  || fail "the exec suite (sh + curl in the agent image) passed" "$(verdict_of "$(pod_of sample-configmap)")"
ok "an exec suite ran in the agent image with its shell and curl"

for s in "${samples[@]}"; do
  want=0; [ "$s" = failing ] && want=1
  code=0
  "$GATE" -n "$NS" --deployment "sample-$s" --timeout 3m --interval 1s --junit "$W/gate-$s.xml" \
    --log-format text > "$W/gate-$s.txt" 2>&1 || code=$?
  [ "$code" = "$want" ] || fail "testcar-gate --deployment sample-$s exits $want, not $code" "$(tail -n 20 "$W/gate-$s.txt")"
  grep -q "<testsuite" "$W/gate-$s.xml" || fail "the gate wrote JUnit XML for sample-$s"
  ok "testcar-gate --deployment sample-$s: exit $code, JUnit written"
done

# The agent's endpoints off the pod: /result answers only with the pod's read token, which the
# injector minted into the pod spec. From the node (not the pod's loopback) and through the API
# server's pod proxy (which keeps Authorization for itself and passes X-Testcar-Token on).
pod="$(pod_of sample-shared)"
kubectl -n "$NS" get pod "$pod" -o json > "$W/pod-token.json"
token="$(jq -r '[(.spec.containers + (.spec.initContainers // []))[] | select(.name == "testcar")
  | .env[]? | select(.name == "TESTCAR_READ_TOKEN") | .value][0] // empty' "$W/pod-token.json")"
[ "${#token}" = 64 ] || fail "the injector minted a 64-character read token into $pod's agent"
jq -e '.metadata.labels["testcar.io/injected"] == "true"' "$W/pod-token.json" >/dev/null \
  || fail "$pod carries the label testcar.io/injected=true" "$(jq .metadata.labels "$W/pod-token.json")"
ip="$(jq -r .status.podIP "$W/pod-token.json")"
http_code() { curl -s -o "$W/http-body.txt" -w '%{http_code}' --max-time 10 "$@" || true; }
[ "$(http_code "http://$ip:9464/result")" = 401 ] || fail "from off the pod, /result without a token is 401" "$(cat "$W/http-body.txt")"
grep -q "x-testcar-token" "$W/http-body.txt" || fail "the 401 says which header to use" "$(cat "$W/http-body.txt")"
[ "$(http_code -H "X-Testcar-Token: not-the-token" "http://$ip:9464/result")" = 403 ] || fail "a wrong token is 403"
[ "$(http_code -H "X-Testcar-Token: $token" "http://$ip:9464/result")" = 200 ] || fail "the pod's token reads /result" "$(cat "$W/http-body.txt")"
jq -e '.schema == "testcar.io/result/v1"' "$W/http-body.txt" >/dev/null || fail "/result with the token is the result document"
[ "$(http_code "http://$ip:9464/metrics")" = 200 ] || fail "/metrics stays open for scrapers"
proxy="https://$NODE_IP:$API_PORT/api/v1/namespaces/$NS/pods/$pod:9464/proxy/result"
auth=(--cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key")
[ "$(http_code "${auth[@]}" "$proxy")" = 401 ] || fail "through the pod proxy without the token: 401" "$(cat "$W/http-body.txt")"
[ "$(http_code "${auth[@]}" -H "X-Testcar-Token: $token" "$proxy")" = 200 ] || fail "through the pod proxy with X-Testcar-Token: 200" "$(cat "$W/http-body.txt")"
jq -e '.status == "passed"' "$W/http-body.txt" >/dev/null || fail "the proxied /result is $pod's passed result"
kubectl -n "$NS" logs "$pod" -c testcar > "$W/agent-log.txt"
if grep -qF "$token" "$W/agent-log.txt"; then fail "the read token appears in the agent's log"; fi
ok "agent endpoints: /result 401 without the pod's read token, 403 with a wrong one, 200 with it, also through the API server's pod proxy; metrics open; token never logged"

# testcar-gate check, the doctor, against this installation: every check passes, the dry-run
# pod is injected by the real webhook; an excluded namespace fails with its fix.
code=0
"$GATE" check -n "$NS" --testcar-namespace "$SYS" > "$W/check.txt" 2>&1 || code=$?
[ "$code" = 0 ] || fail "testcar-gate check -n $NS exits 0, not $code" "$(cat "$W/check.txt")"
for c in "kubernetes API" "webhook configuration" "injector service" "CA bundle" "namespace" "dry-run injection" "scale-out record"; do
  grep -q "^\[ok\] *$c: " "$W/check.txt" || fail "testcar-gate check: '$c' is ok" "$(cat "$W/check.txt")"
done
grep -q "verifies the serving certificate in Secret $SYS/$INJECTOR-tls for $INJECTOR.$SYS.svc" "$W/check.txt" \
  || fail "testcar-gate check verifies the serving certificate against the caBundle" "$(cat "$W/check.txt")"
grep -q "scale-out record: the injector reads configmap $SYS/testcar-verified, and this identity may record passed rollouts there; $NS recorded: .*sample-shared → sample-shared-" "$W/check.txt" \
  || fail "testcar-gate check finds the ConfigMap the injector mounts and may patch it" "$(cat "$W/check.txt")"
ok "testcar-gate check -n $NS: 7 checks ok, the caBundle verifies the serving certificate, a dry-run pod injected, the gate may write the scale-out record the injector reads"
# The gate pointed at another ConfigMap than the one the injector mounts: a warning (exit 0)
# whose fix names the mounted one.
code=0
"$GATE" check -n "$NS" --testcar-namespace "$SYS" --verified-configmap elsewhere/testcar-verified -o json \
  > "$W/check-elsewhere.json" 2>&1 || code=$?
[ "$code" = 0 ] || fail "check with a mismatched --verified-configmap exits 0 (a warning), not $code" "$(cat "$W/check-elsewhere.json")"
jq -e --arg m "$SYS/testcar-verified" '.findings[] | select(.check == "scale-out record" and .outcome == "warn")
  | (.message | contains("but testcar-gate would record passed rollouts in elsewhere/testcar-verified"))
    and (.hint | contains("--verified-configmap " + $m))' "$W/check-elsewhere.json" >/dev/null \
  || fail "check warns that the gate would record where the injector does not read" "$(cat "$W/check-elsewhere.json")"
ok "testcar-gate check --verified-configmap elsewhere/…: warns that the injector reads $SYS/testcar-verified, with the flag to fix it"
# check answers for whoever runs it: a pipeline identity that may read what check reads but
# not patch the record gets a warning with the RBAC fix (the access review asks for the caller).
kubectl apply -f - > "$W/apply-ci-reader.txt" 2>&1 <<EOF || fail "kubectl apply the ci-reader identity" "$(cat "$W/apply-ci-reader.txt")"
apiVersion: v1
kind: ServiceAccount
metadata: {name: ci-reader, namespace: $NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: testcar-e2e-check-reader}
rules:
  - {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [list]}
  - {apiGroups: [""], resources: [services, namespaces, configmaps], verbs: [get]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list]}
  - {apiGroups: [apps], resources: [deployments], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: testcar-e2e-check-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: testcar-e2e-check-reader}
subjects: [{kind: ServiceAccount, name: ci-reader, namespace: $NS}]
EOF
ci_token="$(kubectl -n "$NS" create token ci-reader --duration 10m)"
kubectl config view --raw --minify > "$W/ci-reader.kubeconfig"
KUBECONFIG="$W/ci-reader.kubeconfig" kubectl config set-credentials ci-reader --token="$ci_token" >/dev/null
KUBECONFIG="$W/ci-reader.kubeconfig" kubectl config set-context --current --user=ci-reader >/dev/null
code=0
"$GATE" check -n "$NS" --testcar-namespace "$SYS" --no-dry-run -o json --kubeconfig "$W/ci-reader.kubeconfig" \
  > "$W/check-ci-reader.json" 2>&1 || code=$?
[ "$code" = 0 ] || fail "check as ci-reader exits 0 (warnings only), not $code" "$(cat "$W/check-ci-reader.json")"
jq -e --arg m "$SYS/testcar-verified" '.findings[] | select(.check == "scale-out record" and .outcome == "warn")
  | (.message | startswith("this identity may not patch configmap " + $m)) and (.hint | contains("gate.rbac.markVerified"))' \
  "$W/check-ci-reader.json" >/dev/null || fail "check as ci-reader warns that it may not record, with the fix" "$(cat "$W/check-ci-reader.json")"
! grep -qF "$ci_token" "$W/check-ci-reader.json" || fail "check never prints the caller's token"
kubectl delete clusterrolebinding/testcar-e2e-check-reader clusterrole/testcar-e2e-check-reader >/dev/null
ok "testcar-gate check as a pipeline identity without patch on the record: a warning with the RBAC fix (its own access review), exit 0, token never shown"
code=0
"$GATE" check -n kube-system --testcar-namespace "$SYS" -o json > "$W/check-ks.json" 2>&1 || code=$?
[ "$code" = 1 ] || fail "testcar-gate check -n kube-system exits 1, not $code" "$(cat "$W/check-ks.json")"
jq -e '.findings[] | select(.check == "namespace" and .outcome == "fail")
       | (.message | startswith("namespace kube-system is not selected by webhook"))
         and (.hint | startswith("kube-system is excluded on purpose"))' "$W/check-ks.json" >/dev/null \
  || fail "testcar-gate check names the unselected namespace and its fix" "$(cat "$W/check-ks.json")"
jq -e '.findings[] | select(.check == "dry-run injection") | .outcome == "skip"' "$W/check-ks.json" >/dev/null \
  || fail "the dry run is skipped for a namespace the webhook never sees" "$(cat "$W/check-ks.json")"
ok "testcar-gate check -n kube-system: exit 1, the namespace check fails with its fix (JSON output)"

# A LimitRange that refuses the agent's default limits (cpu 1): check names it with its fix from
# the dry run, and the gate says why the ReplicaSet has no pods instead of only "no pods".
kubectl create namespace limited >/dev/null
kubectl -n limited apply -f - >/dev/null <<EOF
apiVersion: v1
kind: LimitRange
metadata: {name: small-containers}
spec:
  limits: [{type: Container, max: {cpu: 500m}}]
EOF
code=0
"$GATE" check -n limited --testcar-namespace "$SYS" -o json > "$W/check-limited.json" 2>&1 || code=$?
[ "$code" = 1 ] || fail "testcar-gate check -n limited exits 1, not $code" "$(cat "$W/check-limited.json")"
jq -e '.findings[] | select(.check == "dry-run injection" and .outcome == "fail")
       | (.message | contains("maximum cpu usage per Container is 500m")) and (.hint | contains("LimitRange"))' \
  "$W/check-limited.json" >/dev/null || fail "check shows the LimitRange refusing the agent, with the fix" "$(cat "$W/check-limited.json")"
kubectl -n limited apply -f examples/local-cluster/shared.yaml > "$W/apply-limited.txt" 2>&1 \
  || fail "kubectl apply of the shared sample into namespace limited" "$(cat "$W/apply-limited.txt")"
code=0
"$GATE" -n limited --deployment sample-shared --timeout 20s --interval 1s > "$W/gate-limited.txt" 2>&1 || code=$?
[ "$code" = 2 ] || fail "the gate exits 2 for a ReplicaSet that cannot create pods, not $code" "$(cat "$W/gate-limited.txt")"
grep -q "cannot create pods: .*maximum cpu usage per Container is 500m" "$W/gate-limited.txt" \
  || fail "the gate says the ReplicaSet cannot create pods and why" "$(cat "$W/gate-limited.txt")"
kubectl delete namespace limited --wait=false >/dev/null
ok "a LimitRange refusing the agent: check fails the dry run with the fix, the gate names the ReplicaSet's FailedCreate"

# The samples users copy (examples/k8s, podinfo-based): each pod template, as a server-side
# dry-run, is patched by the real webhook and admitted under Pod Security restricted.
python3 - "$W/templates" examples/k8s/*.yaml <<'EOF'
import json, os, sys, yaml
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        tpl = doc["spec"]["template"]
        name = os.path.basename(path)[:-5] + "-" + doc["metadata"]["name"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": dict(tpl["metadata"], name=name[:63]), "spec": tpl["spec"]}
        json.dump(pod, open(os.path.join(out, name + ".json"), "w"))
EOF
for f in "$W"/templates/*.json; do
  name="$(basename "$f" .json)"
  if kubectl -n "$NS" create --dry-run=server -o json -f "$f" > "$W/dry-$name.json" 2> "$W/dry-$name.err"; then
    [ "$(testcar_containers < "$W/dry-$name.json")" = 1 ] || fail "examples/k8s $name: injected by the webhook" "$(cat "$W/dry-$name.err")"
    ok "examples/k8s $name: the real API server admits the injected pod (restricted, dry run)"
  elif grep -q "image" "$W/dry-$name.err" && [[ "$name" == image-* ]]; then
    # image volumes need the ImageVolume feature (and containerd 2.x to run); report, do not hide.
    ok "examples/k8s $name: refused by this cluster as expected without image volumes: $(head -c 200 "$W/dry-$name.err")"
  else
    fail "examples/k8s $name: admitted by the API server" "$(cat "$W/dry-$name.err")"
  fi
done

# ---------------------------------------------------------------------------------------------
# Pod faults: a 3-replica Deployment with a PodDisruptionBudget (minAvailable 2) annotated
# testcar.io/faults: pods, its service account given the chart's faults.pods Role. The agents
# wait until the budget allows one disruption (all three Ready), then the oldest pod's agent
# evicts two siblings at the same moment: the API server lets one through (201) and refuses
# the other (429); the younger pods' agents skip. The gate reads it all back.
# This cluster has no kube-proxy: a pod cannot reach the kubernetes Service (10.96.0.1), so the
# agents are pointed at the API server's own address through agent.extraEnv (the certificate
# names it), as on any cluster whose pods reach the API server some other way.
# The same upgrade lets pods pick the agent image's net-admin variant (the kernel faults below).
helm upgrade testcar charts/testcar -n "$SYS" --reuse-values --set faults.pods.enabled=true \
  --set-json "faults.pods.serviceAccounts=[{\"namespace\":\"$NS\",\"name\":\"chaos\"}]" \
  --set agent.allowImageOverride=true --set-json "agent.allowedRegistries=[\"$IMAGE_PREFIX/\"]" \
  --set-json "agent.extraEnv=[{\"name\":\"KUBERNETES_SERVICE_HOST\",\"value\":\"$NODE_IP\"},{\"name\":\"KUBERNETES_SERVICE_PORT\",\"value\":\"$API_PORT\"}]" \
  --wait --timeout 5m > "$W/helm-pod-faults.txt" 2>&1 || fail "helm upgrade --set faults.pods.enabled=true" "$(tail -n 20 "$W/helm-pod-faults.txt")"
# The injector pods restart with the new config; until the old ones are gone an admission may
# still get the old one, so wait until a dry-run pod's agent gets the new environment.
agent_env_points_at_api() {
  dry_run_pod "$1" 2>/dev/null | jq -e --arg ip "$NODE_IP" '[(.spec.containers + (.spec.initContainers // []))[]
    | select(.name == "testcar") | .env[]? | select(.name == "KUBERNETES_SERVICE_HOST" and .value == $ip)] | length == 1' >/dev/null
}
until_true 120 "the injector pods of the old config are gone after the upgrade" bash -c \
  "[ \"\$(kubectl -n $SYS get pods -l app.kubernetes.io/component=injector -o json | jq '[.items[] | select(.metadata.deletionTimestamp != null)] | length')\" = 0 ]"
until_true 120 "injected agents get agent.extraEnv after the upgrade" agent_env_points_at_api chaos-probe
kubectl -n "$NS" get role testcar-pod-faults -o json > "$W/pod-faults-role.json" || fail "the chart created the pod-fault Role in $NS"
jq -e '[.rules[] | {g: .apiGroups[0], r: .resources[0], v: (.verbs | sort)}] == [
  {g: "", r: "pods", v: ["get", "list"]}, {g: "", r: "pods/eviction", v: ["create"]},
  {g: "policy", r: "poddisruptionbudgets", v: ["get", "list"]}]' "$W/pod-faults-role.json" >/dev/null \
  || fail "the pod-fault Role grants exactly pods get/list, pods/eviction create, poddisruptionbudgets get/list" "$(jq -c .rules "$W/pod-faults-role.json")"
kubectl -n "$NS" apply -f - > "$W/apply-chaos.txt" 2>&1 <<EOF || fail "kubectl apply the chaos Deployment" "$(cat "$W/apply-chaos.txt")"
apiVersion: v1
kind: ServiceAccount
metadata: {name: chaos}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: chaos}
spec:
  minAvailable: 2
  selector: {matchLabels: {app.kubernetes.io/name: chaos}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: chaos-tests}
data:
  testcar.yaml: |
    suites:
      # Every agent waits until the budget allows a disruption: all three pods Ready. (The API
      # server pretty-prints JSON for curl: the pattern takes both spacings.)
      - name: budget-ready
        timeout: 3m
        exec: ["sh", "-c", "sa=/var/run/secrets/kubernetes.io/serviceaccount; until curl -fsS --cacert \$sa/ca.crt -H \"Authorization: Bearer \$(cat \$sa/token)\" https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT/apis/policy/v1/namespaces/$NS/poddisruptionbudgets/chaos | grep -E '\"disruptionsAllowed\": *1[^0-9]' >/dev/null; do sleep 1; done"]
      # Seeds 1 and 2 pick different pods of two: both evictions go out at once.
      - name: lose-a-replica
        exec: ["sleep", "5"]
        faults:
          - {kind: evict, seed: 1}
          - {kind: evict, seed: 2}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: chaos
  labels: {app.kubernetes.io/name: chaos}
spec:
  replicas: 3
  selector: {matchLabels: {app.kubernetes.io/name: chaos}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: chaos}
      annotations:
        testcar.io/inject: "true"
        testcar.io/faults: pods
        testcar.io/tests: configmap:chaos-tests
        testcar.io/target: http://127.0.0.1:8080
    spec:
      serviceAccountName: chaos
      terminationGracePeriodSeconds: 5
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: $IMAGE_PREFIX/sample-service:$IMAGE_TAG
          imagePullPolicy: Never
          args: ["--listen", "0.0.0.0:8080"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 2}
          resources: {requests: {cpu: 20m, memory: 16Mi}, limits: {memory: 64Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}
EOF
code=0
"$GATE" -n "$NS" --deployment chaos --timeout 6m --interval 2s --json "$W/gate-chaos.json" \
  --log-format text > "$W/gate-chaos.txt" 2>&1 || code=$?
[ "$code" = 0 ] || fail "testcar-gate --deployment chaos exits 0, not $code" "$(tail -n 30 "$W/gate-chaos.txt")"
faults_of() { jq -c '[.pods[].run.suites[]? | select(.name == "lose-a-replica") | .faults[]?]' "$W/gate-chaos.json"; }
outcomes="$(faults_of | jq -c 'map(.outcome) | sort')"
# The oldest pod's two evictions, and two skips from each of the other two agents that reported.
jq -e 'map(select(. == "evicted")) | length == 1' <<<"$outcomes" >/dev/null \
  && jq -e 'map(select(. == "refused")) | length == 1' <<<"$outcomes" >/dev/null \
  && jq -e 'map(select(. != "evicted" and . != "refused" and . != "skipped")) | length == 0' <<<"$outcomes" >/dev/null \
  || fail "one eviction let through by the budget, one refused, the other agents skipped" "$(faults_of | jq .)"
refusal="$(faults_of | jq -r '.[] | select(.outcome == "refused") | .detail')"
grep -qi "disruption budget" <<<"$refusal" || fail "the refusal quotes the API server's budget message" "$refusal"
evicted="$(faults_of | jq -r '.[] | select(.outcome == "evicted") | .target | sub("^pod [^/]*/"; "")')"
jq -e --arg p "$evicted" '[.pods[].name] | index($p) == null' "$W/gate-chaos.json" >/dev/null \
  || fail "the evicted pod $evicted is not among the pods the gate read"
kubectl -n "$NS" rollout status deploy/chaos --timeout=120s > "$W/rollout-chaos.txt" 2>&1 \
  || fail "the chaos Deployment is whole again after the eviction" "$(cat "$W/rollout-chaos.txt")"
ok "pod faults: the oldest agent evicted $evicted (201) and was refused by the PodDisruptionBudget (429) at the same moment; others skipped; gate exit 0"
kubectl -n "$NS" delete deploy/chaos pdb/chaos configmap/chaos-tests >/dev/null

# ---------------------------------------------------------------------------------------------
# Kernel faults (NET_ADMIN): a pod annotated testcar.io/faults: net-admin, in a namespace whose
# Pod Security level is privileged (restricted and baseline refuse NET_ADMIN), with the agent
# image's net-admin variant (tc, iptables). Its `partition` cuts the whole pod off from a peer
# (the sample-shared pod in $NS) in the pod's own network namespace: reachable before, dropped
# during (the app itself still answers), reachable again after, and no rule left.
NETNS=netfaults
peer_ip="$(kubectl -n "$NS" get pod "$(pod_of sample-shared)" -o jsonpath='{.status.podIP}')"
[ -n "$peer_ip" ] || fail "the sample-shared pod has an IP to partition from"
kubectl create namespace "$NETNS" >/dev/null
kubectl label namespace "$NETNS" pod-security.kubernetes.io/enforce=privileged >/dev/null
# The cut suite waits (up to 20 s) until the agent's rule is in place: the agent applies a
# fault beside the running suite.
sed -e "s/PEER/$peer_ip/g" -e "s|AGENT_IMAGE|$IMAGE_PREFIX/testcar-agent:$IMAGE_TAG-net-admin|" \
  -e "s|APP_IMAGE|$IMAGE_PREFIX/sample-service:$IMAGE_TAG|" > "$W/net-faults.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: net-faults-tests}
data:
  testcar.yaml: |
    suites:
      - name: before
        exec: ["sh", "-c", "curl -fsS --max-time 5 --retry 10 --retry-all-errors --retry-delay 1 http://PEER:8080/healthz >/dev/null && echo reached PEER"]
      - name: cut
        exec: ["sh", "-c", "for i in $(seq 20); do case \"$(iptables -S OUTPUT)\" in *testcar-fault*) break;; esac; sleep 1; done; if curl -fsS --max-time 3 http://PEER:8080/healthz >/dev/null 2>&1; then echo reached PEER during the partition; exit 1; fi; echo blocked PEER; curl -fsS --max-time 10 http://127.0.0.1:8080/healthz >/dev/null && echo the app still answers"]
        faults:
          - kind: partition
            peers: [PEER]
      - name: healed
        exec: ["sh", "-c", "curl -fsS --max-time 5 --retry 10 --retry-all-errors --retry-delay 1 http://PEER:8080/healthz >/dev/null && echo reached PEER; case \"$(iptables -S)\" in *testcar-fault*) echo rules left; exit 1;; esac; echo no rules left"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: net-faults
  labels: {app.kubernetes.io/name: net-faults}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: net-faults}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: net-faults}
      annotations:
        testcar.io/inject: "true"
        testcar.io/faults: net-admin
        testcar.io/image: AGENT_IMAGE
        testcar.io/tests: configmap:net-faults-tests
        testcar.io/target: http://127.0.0.1:8080
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: app
          image: APP_IMAGE
          imagePullPolicy: Never
          args: ["--listen", "0.0.0.0:8080"]
          ports: [{name: http, containerPort: 8080}]
          resources: {requests: {cpu: 20m, memory: 16Mi}, limits: {memory: 64Mi}}
YAML
kubectl -n "$NETNS" apply -f "$W/net-faults.yaml" > "$W/apply-net-faults.txt" 2>&1 \
  || fail "kubectl apply the net-faults Deployment" "$(cat "$W/apply-net-faults.txt")"
code=0
"$GATE" -n "$NETNS" --deployment net-faults --timeout 4m --interval 1s --log-format text \
  --no-mark-verified --json "$W/gate-net-faults.json" > "$W/gate-net-faults.txt" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the net-admin pod's partition suites pass (gate exit 0, not $code)" \
  "$(tail -n 30 "$W/gate-net-faults.txt"; kubectl -n "$NETNS" get pods -o wide; kubectl -n "$NETNS" get events | tail -n 20)"
net_pod="$(kubectl -n "$NETNS" get pods -l app.kubernetes.io/name=net-faults -o jsonpath='{.items[0].metadata.name}')"
kubectl -n "$NETNS" get pod "$net_pod" -o json | jq -e '[(.spec.containers + (.spec.initContainers // []))[]
  | select(.name == "testcar") | .securityContext | .capabilities.add == ["NET_ADMIN"] and .runAsUser == 0] == [true]' >/dev/null \
  || fail "the agent container of $net_pod runs as root with NET_ADMIN added" "$(kubectl -n "$NETNS" get pod "$net_pod" -o json | jq -c '.spec')"
suite_out() { jq -r --arg s "$1" '.pods[0].run.suites[] | select(.name == $s) | .outputTail' "$W/gate-net-faults.json"; }
grep -q "blocked $peer_ip" <<<"$(suite_out cut)" || fail "the peer was unreachable during the partition" "$(suite_out cut)"
grep -q "the app still answers" <<<"$(suite_out cut)" || fail "the pod's own app answered during the partition" "$(suite_out cut)"
grep -q "no rules left" <<<"$(suite_out healed)" || fail "healing removed the rules" "$(suite_out healed)"
jq -e --arg t "peers $peer_ip" '.pods[0].run.suites[] | select(.name == "cut") | .faults[0]
  | .kind == "partition" and .target == $t and .error == null and (.end | type) == "string"' "$W/gate-net-faults.json" >/dev/null \
  || fail "the result records the partition with its start and end" "$(jq -c '.pods[0].run.suites[] | select(.name == "cut") | .faults' "$W/gate-net-faults.json")"
rules="$(kubectl -n "$NETNS" exec "$net_pod" -c testcar -- iptables -S 2>&1)" \
  || fail "iptables -S in the agent container after the run" "$rules"
[[ "$rules" != *testcar-fault* ]] || fail "no testcar-fault rule is left in the pod's network namespace" "$rules"
ok "kernel faults: a net-admin agent (root, NET_ADMIN, privileged namespace) partitioned $net_pod from $peer_ip and healed it; the app answered throughout; no rule left"
kubectl delete namespace "$NETNS" --wait=false >/dev/null

# ---------------------------------------------------------------------------------------------
# Readiness held until the verdict passes: a version whose tests fail never takes traffic, its
# rollout stops, the old pod keeps serving.
kubectl -n "$NS" apply -f examples/local-cluster/hold.yaml >/dev/null
kubectl -n "$NS" rollout status deploy/sample-hold --timeout=240s > "$W/rollout-hold.txt" 2>&1 \
  || fail "the held sample rolls out once its tests pass" "$(cat "$W/rollout-hold.txt")"
good="$(pod_of sample-hold)"
verdict="$(verdict_of "$good")"
[ "$(jq -r .status <<<"$verdict")" = passed ] || fail "$good passed its tests" "$verdict"
ready_at="$(kubectl -n "$NS" get pod "$good" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')"
finished="$(jq -r .finished <<<"$verdict")"
[ "$(date -d "$ready_at" +%s)" -ge "$(date -d "$finished" +%s)" ] \
  || fail "$good became Ready ($ready_at) only after its verdict ($finished)"
ok "hold-readiness: $good became Ready at $ready_at, after its verdict passed at $finished"

kubectl -n "$NS" patch deploy sample-hold --type merge \
  -p '{"spec":{"template":{"metadata":{"annotations":{"testcar.io/tests":"copy:/app/testcar-failing"}}}}}' >/dev/null
stalled() {
  [ "$(kubectl -n "$NS" get deploy sample-hold \
    -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}')" = ProgressDeadlineExceeded ]
}
until_true 240 "the rollout of the failing version reports ProgressDeadlineExceeded" stalled
bad="$(pod_of sample-hold)"
[ "$bad" != "$good" ] || fail "the failing version has a pod of its own"
[ "$(jq -r .status <<<"$(verdict_of "$bad")")" = failed ] || fail "$bad's verdict is failed" "$(verdict_of "$bad")"
kubectl -n "$NS" get pod "$bad" -o json | jq -e '.status.conditions[] | select(.type == "Ready") | .status == "False"' >/dev/null \
  || fail "$bad (failed verdict) is not Ready"
kubectl -n "$NS" get pod "$good" -o json | jq -e '.metadata.deletionTimestamp == null and
  (.status.conditions[] | select(.type == "Ready") | .status == "True")' >/dev/null \
  || fail "the passing pod $good is still there and Ready"
good_ip="$(kubectl -n "$NS" get pod "$good" -o jsonpath='{.status.podIP}')"
curl -fsS "http://$good_ip:8080/healthz" >/dev/null || fail "the passing pod $good still serves"
[ "$(kubectl -n "$NS" get deploy sample-hold -o jsonpath='{.status.availableReplicas}')" = 1 ] \
  || fail "the Deployment keeps one available replica"
ok "a failing version: $bad stays unready, ProgressDeadlineExceeded, $good keeps serving"
code=0
"$GATE" -n "$NS" --deployment sample-hold --rollback --timeout 2m --interval 1s --log-format text \
  > "$W/gate-hold.txt" 2>&1 || code=$?
[ "$code" = 1 ] || fail "the gate fails the stalled rollout (exit 1, not $code)" "$(tail -n 20 "$W/gate-hold.txt")"
grep -q "rollout stalled (ProgressDeadlineExceeded)" "$W/gate-hold.txt" \
  || fail "the gate says the rollout stalled" "$(tail -n 20 "$W/gate-hold.txt")"
grep -q "rolled deployment sample-hold back from revision 2 to revision 1" "$W/gate-hold.txt" \
  || fail "the gate rolls the Deployment back to revision 1" "$(tail -n 20 "$W/gate-hold.txt")"
# Not `kubectl rollout status` right away: the Deployment keeps ProgressDeadlineExceeded until
# the controller sees progress (the failed pod going away), and rollout status fails on it at
# once if it looks first. The gate prints the command that waits for a complete rollout; run
# it as a user would paste it.
wait_cmd="$(sed -n 's/^testcar-gate: to wait until revision 1 serves alone again: //p' "$W/gate-hold.txt")"
[[ "$wait_cmd" == "kubectl -n $NS wait deploy/sample-hold "* ]] \
  || fail "the gate prints the command that waits for the rolled-back rollout" "$(tail -n 20 "$W/gate-hold.txt")"
bash -c "$wait_cmd" > "$W/rollout-undo.txt" 2>&1 \
  || fail "after --rollback the rollout completes (the gate's wait command: $wait_cmd)" \
    "$(cat "$W/rollout-undo.txt"; kubectl -n "$NS" get deploy sample-hold -o jsonpath='{.status}')"
kubectl -n "$NS" rollout status deploy/sample-hold --timeout=60s > "$W/rollout-undo.txt" 2>&1 \
  || fail "after --rollback kubectl rollout status reports the rollout complete" "$(cat "$W/rollout-undo.txt")"
[ "$(kubectl -n "$NS" get deploy sample-hold -o jsonpath='{.spec.template.metadata.annotations.testcar\.io/tests}')" = copy:/app/testcar ] \
  || fail "after --rollback the Deployment runs the passing tests again"
ok "testcar-gate --rollback: exit 1, says the rollout stalled, puts revision 1's template back; its wait command returns once the rollout is complete"

# ---------------------------------------------------------------------------------------------
# Scale-out is not a new version: once testcar-gate passes a rollout it records the ReplicaSet
# in the injector's ConfigMap (mounted into the injector, which has no API access); a pod that
# `kubectl scale` adds to that ReplicaSet then runs what testcar.io/on-scale-out says: nothing
# (not injected, Ready at once although readiness is held) or only the suites tagged smoke.
VERIFIED=testcar-verified
kubectl -n "$NS" apply -f examples/local-cluster/scale-out.yaml >/dev/null
for d in sample-scaleout sample-scaleout-smoke; do
  kubectl -n "$NS" rollout status "deploy/$d" --timeout=240s > "$W/rollout-$d.txt" 2>&1 \
    || fail "$d rolls out once its tests pass" "$(cat "$W/rollout-$d.txt")"
done
# suites_of POD: the names of the suites in the pod's verdict, comma-separated.
suites_of() { jq -r '[.suites[].name] | join(",")' <<<"$(verdict_of "$1")"; }
# ready_secs POD: seconds from the pod's creation to its Ready condition.
ready_secs() {
  kubectl -n "$NS" get pod "$1" -o json | jq -r '((.status.conditions[] | select(.type == "Ready") | .lastTransitionTime)
    | fromdate) - (.metadata.creationTimestamp | fromdate)'
}
rs_of() { kubectl -n "$NS" get rs -l "app.kubernetes.io/name=$1" -o jsonpath='{.items[0].metadata.name}'; }
first_none="$(pod_of sample-scaleout)"
first_smoke="$(pod_of sample-scaleout-smoke)"
for p in "$first_none" "$first_smoke"; do
  [ "$(suites_of "$p")" = smoke,load ] || fail "the first pod $p of a new version runs every suite" "$(verdict_of "$p")"
done
rollout_ready="$(ready_secs "$first_none")"
[ "$rollout_ready" -ge 20 ] || fail "with the hold, $first_none became Ready only after its 20 s load suite (${rollout_ready}s)"
ok "a new version runs smoke and the 20 s load suite before it is Ready ($first_none: ${rollout_ready}s from creation to Ready)"

for d in sample-scaleout sample-scaleout-smoke; do
  rs="$(rs_of "$d")"
  code=0
  "$GATE" -n "$NS" --deployment "$d" --verified-configmap "$SYS/$VERIFIED" --timeout 2m --interval 1s --log-format text \
    > "$W/gate-$d.txt" 2>&1 || code=$?
  [ "$code" = 0 ] || fail "the gate passes $d (exit $code)" "$(tail -n 20 "$W/gate-$d.txt")"
  grep -q "marked replicaset $rs of deployment $d verified in configmap $SYS/$VERIFIED" "$W/gate-$d.txt" \
    || fail "the gate says it marked $rs verified" "$(tail -n 20 "$W/gate-$d.txt")"
  [ "$(kubectl -n "$SYS" get configmap "$VERIFIED" -o json | jq -r --arg k "$NS.$d" '.data[$k] // empty')" = "$rs" ] \
    || fail "configmap $SYS/$VERIFIED records $rs under $NS.$d" "$(kubectl -n "$SYS" get configmap "$VERIFIED" -o yaml)"
done
marked_at=$SECONDS
"$GATE" check -n "$NS" --testcar-namespace "$SYS" --no-dry-run -o json > "$W/check-verified.json" 2>&1 \
  || fail "testcar-gate check passes after the records" "$(cat "$W/check-verified.json")"
for d in sample-scaleout sample-scaleout-smoke; do
  rs="$(kubectl -n "$SYS" get configmap "$VERIFIED" -o json | jq -r --arg k "$NS.$d" '.data[$k]')"
  jq -e --arg r "$d → $rs" '.findings[] | select(.check == "scale-out record" and .outcome == "ok") | .message | contains($r)' \
    "$W/check-verified.json" >/dev/null || fail "testcar-gate check lists the record $d → $rs" "$(cat "$W/check-verified.json")"
done
ok "testcar-gate passes both rollouts and records their ReplicaSets in $SYS/$VERIFIED; check lists them"

# replica_set_pod RS: the pod the ReplicaSet RS would create (its template, its controller
# ownerReference, the pod-template-hash label), with a name of its own.
replica_set_pod() {
  kubectl -n "$NS" get rs "$1" -o json | jq --arg name "probe-$1-$RANDOM" '{apiVersion: "v1", kind: "Pod",
    metadata: (.spec.template.metadata + {name: $name, namespace: .metadata.namespace, ownerReferences: [{apiVersion: "apps/v1",
      kind: "ReplicaSet", name: .metadata.name, uid: .metadata.uid, controller: true, blockOwnerDeletion: true}]}),
    spec: .spec.template.spec}'
}
# dry_run_skips RS: a server-side dry-run create of RS's pod (the API server calls the webhook)
# comes back marked skipped-scale-out.
dry_run_skips() {
  [ "$(replica_set_pod "$1" | kubectl -n "$NS" create --dry-run=server -o json -f - 2>/dev/null \
    | jq -r '.metadata.annotations["testcar.io/status"] // empty')" = skipped-scale-out ]
}
# every_injector_skips RS: each injector replica, asked directly with RS's pod, answers with the
# skipped-scale-out mark (each pod's kubelet syncs its own copy of the folder).
every_injector_skips() {
  local ip review answer n=0
  review="$(replica_set_pod "$1" | jq --arg ns "$NS" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
    request: {uid: "e2e-scale-out", kind: {group: "", version: "v1", kind: "Pod"}, resource: {group: "", version: "v1", resource: "pods"},
      namespace: $ns, operation: "CREATE", userInfo: {username: "e2e"}, object: .}}')"
  for ip in $(injector_ips); do
    n=$((n + 1))
    answer="$(curl -fsSk --max-time 5 -H 'Content-Type: application/json' --data-binary "$review" "https://$ip:8443/mutate")" || return 1
    # the whole patch first: a reader that stops at the first match would break the pipe
    patch="$(jq -r '.response.patch // ""' <<<"$answer" | base64 -d 2>/dev/null)" || return 1
    grep -qF '"skipped-scale-out"' <<<"$patch" || return 1
  done
  [ "$n" -ge 1 ]
}
rs_none="$(rs_of sample-scaleout)"
rs_smoke="$(rs_of sample-scaleout-smoke)"
until_true 180 "a server-side dry-run pod of $rs_none comes back skipped-scale-out (the kubelet brings the gate's record into the injector's mounted folder)" dry_run_skips "$rs_none"
dry_run_secs=$((SECONDS - marked_at))
until_true 180 "every injector replica has the gate's record of $rs_none" every_injector_skips "$rs_none"
sync_secs=$((SECONDS - marked_at))
ok "the injector reads the record from its mounted ConfigMap: dry-run skipped after ${dry_run_secs}s, every replica after ${sync_secs}s"

kubectl -n "$NS" scale deploy/sample-scaleout --replicas=2 > "$W/scale-none.txt" 2>&1 || fail "kubectl scale sample-scaleout" "$(cat "$W/scale-none.txt")"
kubectl -n "$NS" scale deploy/sample-scaleout-smoke --replicas=2 > "$W/scale-smoke.txt" 2>&1 || fail "kubectl scale sample-scaleout-smoke" "$(cat "$W/scale-smoke.txt")"
# new_pod_of DEPLOYMENT FIRST: the Deployment's newest pod when it is not FIRST.
new_pod_of() { local p; p="$(pod_of "$1")"; [ -n "$p" ] && [ "$p" != "$2" ] && echo "$p"; }
has_new_pod() { new_pod_of "$@" >/dev/null; }
until_true 60 "sample-scaleout has a second pod" has_new_pod sample-scaleout "$first_none"
until_true 60 "sample-scaleout-smoke has a second pod" has_new_pod sample-scaleout-smoke "$first_smoke"
kubectl -n "$NS" rollout status deploy/sample-scaleout --timeout=120s > "$W/rollout-scale-none.txt" 2>&1 \
  || fail "the scale-out pod of sample-scaleout becomes Ready" "$(cat "$W/rollout-scale-none.txt")"
scaled="$(new_pod_of sample-scaleout "$first_none")"
kubectl -n "$NS" get pod "$scaled" -o json > "$W/scaled-none.json"
[ "$(testcar_containers < "$W/scaled-none.json")" = 0 ] || fail "the scale-out pod $scaled of a verified ReplicaSet is not injected"
[ "$(jq -r '.metadata.annotations["testcar.io/status"]' "$W/scaled-none.json")" = skipped-scale-out ] \
  || fail "the scale-out pod $scaled is marked testcar.io/status: skipped-scale-out" "$(jq .metadata.annotations "$W/scaled-none.json")"
[ "$(jq -r '.metadata.ownerReferences[0].name' "$W/scaled-none.json")" = "$rs_none" ] || fail "$scaled belongs to the verified $rs_none"
scale_ready="$(ready_secs "$scaled")"
[ "$scale_ready" -lt 20 ] || fail "the scale-out pod $scaled is Ready before a load test could have run (${scale_ready}s, the load suite takes 20 s)"
skipped_total=0
for ip in $(injector_ips); do
  n="$(curl -fsS "http://$ip:9090/metrics" | awk '/^testcar_injector_admissions_total.*reason="scale-out-verified"/ {s += $2} END {print s + 0}')"
  skipped_total=$((skipped_total + n))
done
[ "$skipped_total" -ge 1 ] || fail "the injectors count the skip (reason=\"scale-out-verified\")"
ok "on-scale-out none: $scaled (+1 by kubectl scale) not injected, Ready ${scale_ready}s after creation (the rollout's pod: ${rollout_ready}s); metric reason scale-out-verified"

kubectl -n "$NS" rollout status deploy/sample-scaleout-smoke --timeout=120s > "$W/rollout-scale-smoke.txt" 2>&1 \
  || fail "the scale-out pod of sample-scaleout-smoke becomes Ready" "$(cat "$W/rollout-scale-smoke.txt")"
smoked="$(new_pod_of sample-scaleout-smoke "$first_smoke")"
kubectl -n "$NS" get pod "$smoked" -o json > "$W/scaled-smoke.json"
[ "$(testcar_containers < "$W/scaled-smoke.json")" = 1 ] || fail "the smoke scale-out pod $smoked is injected"
[ "$(jq -r '.metadata.ownerReferences[0].name' "$W/scaled-smoke.json")" = "$rs_smoke" ] || fail "$smoked belongs to the verified $rs_smoke"
jq -e '[(.spec.containers + (.spec.initContainers // []))[] | select(.name == "testcar") | .env[]
  | select(.name == "TESTCAR_SUITE_TAGS" and .value == "smoke")] | length == 1' "$W/scaled-smoke.json" >/dev/null \
  || fail "the smoke scale-out pod's agent gets TESTCAR_SUITE_TAGS=smoke"
verdict="$(verdict_of "$smoked")"
[ "$(jq -r .status <<<"$verdict")" = passed ] && [ "$(suites_of "$smoked")" = smoke ] \
  || fail "the smoke scale-out pod $smoked runs only the smoke suite and passes" "$verdict"
smoke_ready="$(ready_secs "$smoked")"
[ "$smoke_ready" -lt 20 ] || fail "the smoke scale-out pod $smoked is Ready before a load test could have run (${smoke_ready}s)"
ok "on-scale-out smoke: $smoked runs only the smoke suite, passes, Ready ${smoke_ready}s after creation"
log "scale-out timings: rollout pod Ready ${rollout_ready}s, record seen by a dry-run ${dry_run_secs}s / every injector ${sync_secs}s after the gate, scale-out pods Ready none ${scale_ready}s, smoke ${smoke_ready}s"
kubectl -n "$NS" delete -f examples/local-cluster/scale-out.yaml --wait=false >/dev/null
# Without the record (deleted here; an older chart, or scaleOut.enabled false with the injector
# still mounting it): the injector's optional mount keeps it running, check warns that every
# new pod is tested in full, and a passing gate says so without changing its verdict.
kubectl -n "$SYS" delete configmap "$VERIFIED" >/dev/null
code=0
"$GATE" check -n "$NS" --testcar-namespace "$SYS" --no-dry-run -o json > "$W/check-no-record.json" 2>&1 || code=$?
[ "$code" = 0 ] || fail "check without the record exits 0 (a warning), not $code" "$(cat "$W/check-no-record.json")"
jq -e --arg m "$SYS/$VERIFIED" '.findings[] | select(.check == "scale-out record" and .outcome == "warn")
  | (.message == "configmap " + $m + " is not there: every new pod is tested in full until it is") and (.hint | contains("helm upgrade"))' \
  "$W/check-no-record.json" >/dev/null || fail "check warns that the record is missing, with the fix" "$(cat "$W/check-no-record.json")"
code=0
"$GATE" -n "$NS" --deployment sample-shared --timeout 1m --interval 1s --log-format text > "$W/gate-no-record.txt" 2>&1 || code=$?
[ "$code" = 0 ] || fail "the gate still passes sample-shared without the record (exit 0, not $code)" "$(tail -n 20 "$W/gate-no-record.txt")"
grep -q "note: configmap $SYS/$VERIFIED not found, so scale-out pods of replicaset sample-shared-" "$W/gate-no-record.txt" \
  || fail "the gate notes that it could not record" "$(tail -n 20 "$W/gate-no-record.txt")"
ok "without the record ConfigMap: check warns with the fix, the gate passes and notes it could not record (exit 0)"

# ---------------------------------------------------------------------------------------------
# 5. The sidecar's process is killed: the container restarts, the stored verdict is printed
#    again, the tests are not run again (same run id).
pod="$(pod_of sample-configmap)"
before="$(verdict_of "$pod")"
cid="$(kubectl -n "$NS" get pod "$pod" -o json \
  | jq -r '[(.status.containerStatuses + (.status.initContainerStatuses // []))[] | select(.name == "testcar")][0].containerID' \
  | sed 's|^containerd://||')"
pid="$(ctr --address "$SOCK" -n k8s.io tasks ls | awk -v id="$cid" '$1 == id {print $2}')"
[ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "the testcar container's task is found in containerd ($cid)"
kill -9 "$pid"
restarted() {
  kubectl -n "$NS" get pod "$pod" -o json | jq -e '[(.status.containerStatuses + (.status.initContainerStatuses // []))[]
    | select(.name == "testcar")][0] | .restartCount >= 1 and .state.running != null' >/dev/null
}
until_true 120 "the testcar container of $pod restarted" restarted
until_true 120 "a verdict in the restarted container's log" bash -c "[ -n \"\$(kubectl -n $NS logs $pod -c testcar 2>/dev/null | grep -F testcar.io/result/v1)\" ]"
after="$(verdict_of "$pod")"
[ "$(jq -r .runId <<<"$after")" = "$(jq -r .runId <<<"$before")" ] && [ "$(jq -r .runId <<<"$after")" != null ] \
  || fail "the restarted sidecar re-reads its stored verdict (same run id)" "before: $before
after:  $after"
ok "sidecar killed and restarted: the stored verdict (run $(jq -r .runId <<<"$after")) is printed again, tests not rerun"

# ---------------------------------------------------------------------------------------------
# 6. A re-applied injected pod spec is not injected twice.
kubectl -n "$NS" get pod "$pod" -o json | jq '{apiVersion, kind, metadata: {name: "reapplied", labels: {}, annotations: .metadata.annotations},
  spec: (.spec | del(.nodeName))}' > "$W/reapply.json"
kubectl -n "$NS" apply --dry-run=server -o json -f "$W/reapply.json" > "$W/reapplied.json" 2> "$W/reapply.err" \
  || fail "server-side apply of an injected pod spec" "$(cat "$W/reapply.err")"
[ "$(testcar_containers < "$W/reapplied.json")" = 1 ] || fail "an injected pod spec applied again keeps one testcar container"
[ "$(jq '[.spec.volumes[] | .name] | length' "$W/reapplied.json")" = "$(jq '[.spec.volumes[] | .name] | unique | length' "$W/reapplied.json")" ] \
  || fail "an injected pod spec applied again has no duplicate volumes"
ok "an already-injected pod spec applied again is not injected twice"

#    The injector scaled to zero: pods are still created (failurePolicy Ignore), not injected;
#    the gate exits 2 with its hint. Scaled back, a new rollout is injected again.
kubectl -n "$SYS" scale deploy "$INJECTOR" --replicas=0 >/dev/null
kubectl -n "$SYS" wait --for=delete pod -l app.kubernetes.io/component=injector --timeout=120s >/dev/null 2>&1 || true
until_true 60 "no injector pod left" bash -c "[ -z \"\$(kubectl -n $SYS get pods -o name)\" ]"
kubectl -n "$NS" rollout restart deploy/sample-configmap >/dev/null
kubectl -n "$NS" rollout status deploy/sample-configmap --timeout=240s > "$W/rollout-down.txt" 2>&1 \
  || fail "a rollout with the injector down completes" "$(cat "$W/rollout-down.txt")"
pod="$(pod_of sample-configmap)"
[ "$(kubectl -n "$NS" get pod "$pod" -o json | testcar_containers)" = 0 ] || fail "with the injector down, $pod is not injected"
code=0
"$GATE" -n "$NS" --deployment sample-configmap --timeout 20s --interval 1s --log-format text > "$W/gate-down.txt" 2>&1 || code=$?
[ "$code" = 2 ] || fail "the gate exits 2 for a rollout the injector missed, not $code" "$(cat "$W/gate-down.txt")"
grep -q "not injected" "$W/gate-down.txt" || fail "the gate's hint says the pod was not injected" "$(cat "$W/gate-down.txt")"
ok "injector at zero: pods created without the sidecar, gate exit 2 with the hint"

kubectl -n "$SYS" scale deploy "$INJECTOR" --replicas=2 >/dev/null
kubectl -n "$SYS" rollout status deploy/"$INJECTOR" --timeout=180s >/dev/null || fail "the injector scales back up"
until_true 60 "the webhook answers again" webhook_injects back-up
kubectl -n "$NS" rollout restart deploy/sample-configmap >/dev/null
kubectl -n "$NS" rollout status deploy/sample-configmap --timeout=240s >/dev/null || fail "a rollout after the injector is back"
pod="$(pod_of sample-configmap)"
[ "$(kubectl -n "$NS" get pod "$pod" -o json | testcar_containers)" = 1 ] || fail "with the injector back, $pod is injected"
"$GATE" -n "$NS" --deployment sample-configmap --timeout 3m --interval 1s --log-format text > "$W/gate-back.txt" 2>&1 \
  || fail "the gate passes the rollout after the injector is back" "$(tail -n 20 "$W/gate-back.txt")"
ok "injector scaled back: the next rollout is injected and passes the gate"

#    A rolling restart of the injector under a steady stream of pod creations: the old pods
#    drain (not ready, still answering) before their port closes, so no pod slips through.
kubectl -n "$SYS" rollout restart deploy/"$INJECTOR" >/dev/null
# restart_over: the new pods serve and the old ones are gone (not only scaled away: a
# terminating pod still drains, and its drain is what is under test).
restart_over() {
  kubectl -n "$SYS" rollout status deploy/"$INJECTOR" --timeout=1s >/dev/null 2>&1 &&
    [ "$(kubectl -n "$SYS" get pods -l app.kubernetes.io/component=injector -o json \
      | jq '[.items[] | select(.metadata.deletionTimestamp != null)] | length')" = 0 ]
}
admissions=0 missed=0 after_done=0
deadline=$((SECONDS + 300))
while [ "$after_done" -lt 5 ]; do
  [ $SECONDS -lt $deadline ] || fail "the injector's rolling restart completes within 300 s"
  admissions=$((admissions + 1))
  webhook_injects "restart-$admissions" || missed=$((missed + 1))
  if [ "$after_done" -gt 0 ] || restart_over; then
    after_done=$((after_done + 1))
  fi
done
[ "$missed" = 0 ] || fail "no admission fails during the injector's rolling restart ($missed of $admissions were not injected)"
ok "injector rolling restart under a stream of $admissions pod creations: none created without the sidecar"

# ---------------------------------------------------------------------------------------------
# 6b. A new CA with tls.mode=helm: `helm upgrade --set tls.helm.rotate=true` keeps the old CA in
#     the caBundle, so no admission fails while the kubelet refreshes the mounted Secret.
secret_serial() { kubectl -n "$SYS" get secret "$INJECTOR-tls" -o jsonpath='{.data.tls\.crt}' | base64 -d | openssl x509 -noout -serial | cut -d= -f2; }
bundle_certs() { kubectl get mutatingwebhookconfiguration "$INJECTOR-$SYS" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d | grep -c "BEGIN CERTIFICATE"; }
# served_serial_set: the serials the live injector pods serve, sorted and unique.
served_serial_set() {
  local ip
  for ip in $(injector_ips); do
    openssl s_client -connect "$ip:8443" -servername "$INJECTOR.$SYS.svc" </dev/null 2>/dev/null \
      | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
  done | sort -u
}
old_serial="$(secret_serial)"
helm upgrade testcar charts/testcar -n "$SYS" --reuse-values --set tls.helm.rotate=true \
  --wait --timeout 5m > "$W/helm-rotate.txt" 2>&1 || fail "helm upgrade --set tls.helm.rotate=true" "$(tail -n 20 "$W/helm-rotate.txt")"
new_serial="$(secret_serial)"
[ "$new_serial" != "$old_serial" ] || fail "tls.helm.rotate issued a new certificate"
[ "$(bundle_certs)" = 2 ] || fail "the caBundle holds the new and the previous CA ($(bundle_certs) certificates)"
admissions=0 missed=0
deadline=$((SECONDS + 240))
until [ "$(served_serial_set)" = "$new_serial" ]; do
  [ $SECONDS -lt $deadline ] || fail "the new CA's certificate is served within 240 s" "served: $(served_serial_set | tr '\n' ' ')"
  admissions=$((admissions + 1))
  webhook_injects "ca-rotating-$admissions" || missed=$((missed + 1))
  sleep 1
done
[ "$missed" = 0 ] || fail "no admission fails while the CA rotates ($missed of $admissions were not injected)"
helm upgrade testcar charts/testcar -n "$SYS" --reuse-values --set tls.helm.rotate=false \
  --wait --timeout 5m > "$W/helm-after-rotate.txt" 2>&1 || fail "helm upgrade after the rotation" "$(tail -n 20 "$W/helm-after-rotate.txt")"
[ "$(secret_serial)" = "$new_serial" ] || fail "a plain upgrade after the rotation keeps the new certificate"
webhook_injects after-ca-rotation || fail "injection works after the CA rotation"
ok "tls.helm.rotate: new CA, both CAs in the caBundle, $admissions admissions while the pods switched, none failed"

# 7. A rotated serving certificate (new Secret data, same CA) is picked up with no failed
#    admission. The operator's own CA: tls.mode=secret.
R="$W/rotate"; mkdir -p "$R"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=operator-ca" -keyout "$R/ca.key" -out "$R/ca.crt" 2>/dev/null
issue() {
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$INJECTOR.$SYS.svc" -keyout "$R/$1.key" -out "$R/$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\n' "$INJECTOR" "$INJECTOR" "$SYS" "$INJECTOR" "$SYS" > "$R/$1.ext"
  openssl x509 -req -in "$R/$1.csr" -CA "$R/ca.crt" -CAkey "$R/ca.key" -CAcreateserial -days 1 \
    -extfile "$R/$1.ext" -out "$R/$1.crt" 2>/dev/null
  openssl x509 -in "$R/$1.crt" -noout -serial | cut -d= -f2
}
serial1="$(issue one)"
kubectl -n "$SYS" create secret tls operator-tls --cert "$R/one.crt" --key "$R/one.key" >/dev/null
helm upgrade testcar charts/testcar -n "$SYS" --reuse-values --set tls.mode=secret \
  --set tls.secret.name=operator-tls --set tls.secret.caBundle="$(base64 -w0 "$R/ca.crt")" \
  --wait --timeout 5m > "$W/helm-upgrade.txt" 2>&1 || fail "helm upgrade to tls.mode=secret" "$(tail -n 20 "$W/helm-upgrade.txt")"
log "helm upgrade done at $((SECONDS - started)) s"
# served_serials: the serial of the certificate each live injector pod serves right now.
served_serials() {
  local ip
  for ip in $(injector_ips); do
    openssl s_client -connect "$ip:8443" -servername "$INJECTOR.$SYS.svc" </dev/null 2>/dev/null \
      | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
  done
}
all_serve() { local s; s="$(served_serials)"; [ -n "$s" ] && [ -z "$(grep -vx "$1" <<<"$s")" ]; }
until_true 120 "every injector pod serves the operator's certificate" all_serve "$serial1"
webhook_injects after-upgrade || fail "injection works with the operator's certificate"
ok "helm upgrade to tls.mode=secret: the injector serves the operator's certificate"

serial2="$(issue two)"
kubectl -n "$SYS" create secret tls operator-tls --cert "$R/two.crt" --key "$R/two.key" --dry-run=client -o yaml \
  | kubectl apply -f - >/dev/null
admissions=0 missed=0
deadline=$((SECONDS + 240))
until all_serve "$serial2"; do
  [ $SECONDS -lt $deadline ] || fail "the rotated certificate is served within 240 s" "served: $(served_serials | tr '\n' ' ')"
  admissions=$((admissions + 1))
  webhook_injects "rotating-$admissions" || missed=$((missed + 1))
  sleep 1
done
for i in 1 2 3; do
  admissions=$((admissions + 1))
  webhook_injects "rotated-$i" || missed=$((missed + 1))
done
[ "$missed" = 0 ] || fail "no admission fails while the certificate rotates ($missed of $admissions were not injected)"
ok "rotated certificate picked up without a restart; $admissions admissions during the rotation, none failed"
