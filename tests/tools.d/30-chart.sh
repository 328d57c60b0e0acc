#!/usr/bin/env bash
# The install path, checked with real tools: helm lints and renders the chart with default
# values and with each option on; every rendered object and every sample manifest is
# validated offline against the Kubernetes schemas (kubernetes-validate); the chart's values
# schema rejects bad values; the rendered webhook, Deployment, RBAC and injector config match
# the values they came from; the Grafana dashboard ConfigMap embeds the chart's dashboard unchanged; the generated certificate is reused on upgrade; the injector accepts the rendered config (`--check-config`);
# hadolint lints the Dockerfiles. Tools come from scripts/setup.d/30-helm.sh.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

CHART="$ROOT/charts/testcar"
CHECK=(python3 "$ROOT/tests/chart/check_manifests.py")
NS=testcar-system
RELEASE=testcar
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
failures=()
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAIL %s\n' "$1"; }
# run LABEL CMD...: run a check, show its output only when it fails.
run() {
  local label="$1"; shift
  if "$@" >"$work/out" 2>&1; then ok "$label"; else fail "$label"; sed 's/^/     /' "$work/out"; fi
}

for tool in helm hadolint openssl; do
  command -v "$tool" >/dev/null || { echo "30-chart: $tool is missing; run scripts/setup.d/30-helm.sh" >&2; exit 1; }
done
python3 -c 'import kubernetes_validate, yaml, jsonschema' 2>/dev/null \
  || { echo "30-chart: python kubernetes-validate/PyYAML missing; run scripts/setup.d/30-helm.sh" >&2; exit 1; }

# Newest Kubernetes the validator knows; the chart is also held to its oldest supported one.
K8S_LATEST="$(python3 -c 'from kubernetes_validate.utils import latest_version; print(latest_version())')"
K8S_OLDEST="$(sed -n 's/^kubeVersion: *">=\([0-9]*\.[0-9]*\).*/\1/p' "$CHART/Chart.yaml")"
echo "kubernetes schemas: $K8S_LATEST (newest known to kubernetes-validate) and $K8S_OLDEST (chart kubeVersion)"

run "values.schema.json is generated from tests/chart/gen_schema.py" python3 tests/chart/gen_schema.py --check
run "chart README describes every value" "${CHECK[@]}" readme "$CHART/values.yaml" "$CHART/README.md"

# --- each scenario: lint, render, validate, compare with the values -----------------------
scenarios=(default)
for f in tests/chart/scenarios/*.yaml; do scenarios+=("$(basename "$f" .yaml)"); done
for s in "${scenarios[@]}"; do
  vargs=()
  [ "$s" = default ] || vargs=(-f "tests/chart/scenarios/$s.yaml")
  run "helm lint --strict [$s]" helm lint --strict "$CHART" "${vargs[@]}"
  out="$work/$s.yaml"
  if ! helm template "$RELEASE" "$CHART" -n "$NS" "${vargs[@]}" >"$out" 2>"$work/err"; then
    fail "helm template [$s]"; sed 's/^/     /' "$work/err"; continue
  fi
  ok "helm template [$s]"
  run "kubernetes-validate $K8S_LATEST [$s]" "${CHECK[@]}" validate --k8s-version "$K8S_LATEST" "$out"
  run "kubernetes-validate $K8S_OLDEST [$s]" "${CHECK[@]}" validate --k8s-version "$K8S_OLDEST" "$out"
  mvals=(--values "$CHART/values.yaml")
  [ "$s" = default ] || mvals+=(--values "tests/chart/scenarios/$s.yaml")
  run "rendered objects follow the values [$s]" "${CHECK[@]}" render "${mvals[@]}" \
    --namespace "$NS" --release "$RELEASE" --label "$s" "$out"
  "${CHECK[@]}" config "$out" "$work/$s.config.yaml" || fail "injector ConfigMap in [$s]"
done

# --- the gate's Role: docs/rbac-gate.yaml, examples/k8s/gate-rbac.yaml and the chart agree ---
run "gate Role is the same in docs, examples and the chart (get/list, no watch)" \
  python3 tests/chart/check_gate_rbac.py "$work/gate-rbac.yaml"

# --- the pod-fault Role check is a real check: a Role that also grants delete without
# faults.pods.allowDelete, or binds one service account too many, is refused.
if [ -f "$work/pod-faults.yaml" ]; then
  for wrong in 'faults.pods.allowDelete=false' 'faults.pods.serviceAccounts=[{"namespace":"shop","name":"web"},{"namespace":"payments","name":"ledger"}]'; do
    if "${CHECK[@]}" render --values "$CHART/values.yaml" --values tests/chart/scenarios/pod-faults.yaml \
      --set-json "$wrong" --namespace "$NS" --release "$RELEASE" "$work/pod-faults.yaml" >"$work/out" 2>&1; then
      fail "render check notices pod-fault RBAC not made from $wrong (it passed)"
    elif grep -q 'FAIL.*\(rules are\|binds\)' "$work/out"; then
      ok "render check notices pod-fault RBAC not made from $wrong"
    else
      fail "render check notices pod-fault RBAC not made from $wrong, naming it"; sed 's/^/     /' "$work/out"
    fi
  done
else
  fail "scenario pod-faults was rendered"
fi

# --- the dashboard check is a real check --------------------------------------------------
# The grafana-dashboard rendering compared with values it did not come from must fail.
if [ -f "$work/grafana-dashboard.yaml" ]; then
  for wrong in 'grafana.dashboard.folder="Elsewhere"' 'grafana.dashboard.namespace=""' 'grafana.dashboard.enabled=false'; do
    if "${CHECK[@]}" render --values "$CHART/values.yaml" --values tests/chart/scenarios/grafana-dashboard.yaml \
      --set-json "$wrong" --namespace "$NS" --release "$RELEASE" "$work/grafana-dashboard.yaml" >"$work/out" 2>&1; then
      fail "render check notices a dashboard ConfigMap not made from $wrong (it passed)"
    elif [ "$(grep -c '^FAIL' "$work/out")" = 1 ] && grep -q 'FAIL.*\(dashboard\|grafana_folder\)' "$work/out"; then
      ok "render check notices a dashboard ConfigMap not made from $wrong"
    else
      fail "render check notices a dashboard ConfigMap not made from $wrong (and only that)"; sed 's/^/     /' "$work/out"
    fi
  done
  sed 's/"uid": "testcar-overview"/"uid": "testcar-changed"/' "$work/grafana-dashboard.yaml" >"$work/changed.yaml"
  if ! cmp -s "$work/grafana-dashboard.yaml" "$work/changed.yaml" \
    && ! "${CHECK[@]}" render --values "$CHART/values.yaml" --values tests/chart/scenarios/grafana-dashboard.yaml \
      --namespace "$NS" --release "$RELEASE" "$work/changed.yaml" >"$work/out" 2>&1 \
    && grep -q "embedded testcar.json differs" "$work/out"; then
    ok "render check notices an embedded dashboard that differs from dashboards/testcar.json"
  else
    fail "render check notices an embedded dashboard that differs from dashboards/testcar.json"; sed 's/^/     /' "$work/out"
  fi
else
  fail "scenario grafana-dashboard was rendered"
fi

# --- the generated certificate survives upgrades (lookup against a stand-in API server) ----
run "tls.mode=helm keeps the certificate across upgrades (helm --dry-run=server, stand-in API)" \
  python3 tests/chart/check_tls_upgrade.py "$CHART" "$NS" "$RELEASE"

# --- NOTES.txt tells how to opt in --------------------------------------------------------
if helm install "$RELEASE" "$CHART" -n "$NS" --dry-run=client -f tests/chart/scenarios/namespace-optin.yaml >"$work/notes" 2>&1 \
  && grep -q 'testcar.io/inject: "true"' "$work/notes" \
  && grep -q "kubectl label namespace <namespace> testcar.io/injection=enabled" "$work/notes" \
  && grep -q -- "-c testcar" "$work/notes"; then
  ok "NOTES.txt tells how to opt a workload and a namespace in"
else
  fail "NOTES.txt tells how to opt a workload and a namespace in"; sed -n '/NOTES/,$p' "$work/notes" | sed 's/^/     /'
fi

# --- bad values are rejected by values.schema.json ----------------------------------------
# Each line: a helm flag, then the text the error must contain.
while IFS='|' read -r flag want; do
  [ -n "$flag" ] || continue
  # shellcheck disable=SC2086
  if helm template "$RELEASE" "$CHART" -n "$NS" $flag >/dev/null 2>"$work/err"; then
    fail "schema rejects $flag (it was accepted)"
  elif grep -qF -- "$want" "$work/err"; then
    ok "schema rejects $flag"
  else
    fail "schema rejects $flag with a message naming $want"; sed 's/^/     /' "$work/err"
  fi
done <<'EOF'
--set webhook.failurePolicy=Maybe|/webhook/failurePolicy
--set agent.imagePullSecrets[0]=Mirror_Pull|/agent/imagePullSecrets/0
--set agent.volumeSizeLimits.results=lots|/agent/volumeSizeLimits/results
--set agent.extraVolumeMounts[0].name=krb5|/agent/extraVolumeMounts/0
--set webhook.failurePolicy=Fail|/webhook/namespaceOptIn/enabled
--set webhook.timeoutSeconds=31|/webhook/timeoutSeconds
--set webhook.reinvocationPolicy=Always|/webhook/reinvocationPolicy
--set webhook.sideEffects=Some|'sideEffects' not allowed
--set replicaCount=0|/replicaCount
--set tls.mode=selfsigned|/tls/mode
--set tls.mode=secret|/tls/secret
--set agent.timeout=soon|/agent/timeout
--set agent.readyTimeout=0s|/agent/readyTimeout
--set agent.resources.requests.ephemeral-storage=lots|/agent/resources/requests/ephemeral-storage
--set agent.port=70000|/agent/port
--set agent.resources.limits.cpu=lots|/agent/resources/limits/cpu
--set agent.resources.limits.gpu=1|'gpu' not allowed
--set agent.logFormat=xml|/agent/logFormat
--set agent.endpoints.result=public|/agent/endpoints/result
--set agent.image.digest=latest|/agent/image/digest
--set image.pullPolicy=Sometimes|/image/pullPolicy
--set antiAffinity=strict|/antiAffinity
--set excludeNamespaces[0]=Kube_System|/excludeNamespaces/0
--set metrics.port=8443|/metrics/port
--set webhookPort=9090|metrics.port and webhookPort must differ (both 9090)
--set webhookPort=0|/webhookPort
--set networkPolicy.agent.enabled=true|/networkPolicy/agent/namespaces
--set networkPolicy.agent.allowOtherPorts=maybe|/networkPolicy/agent/allowOtherPorts
--set metrics.serviceMonitor.interval=often|/metrics/serviceMonitor/interval
--set webhook.objectSelector.matchExpressions[0].key=a,webhook.objectSelector.matchExpressions[0].operator=Like|/webhook/objectSelector/matchExpressions/0/operator
--set gate.extraSubjects[0].kind=Robot,gate.extraSubjects[0].name=x|/gate/extraSubjects/0/kind
--set replicas=2|'replicas' not allowed
--set grafana.dashboard.namespace=Monitoring|/grafana/dashboard/namespace
--set grafana.dashboard.enabled=yes|/grafana/dashboard/enabled
--set grafana.dashboard.label=x|'label' not allowed
--set scaleOut.onScaleOut=some|/scaleOut/onScaleOut
--set scaleOut.configMapName=Verified_RS|/scaleOut/configMapName
--set gate.rbac.markVerified=yes|/gate/rbac/markVerified
--set faults.pods.enabled=true|/faults/pods/serviceAccounts
--set faults.pods.serviceAccounts[0].name=web|/faults/pods/serviceAccounts/0
--set faults.pods.watch=true|'watch' not allowed
EOF

# --- the injector accepts the rendered config ---------------------------------------------
# Needs the real injector's --check-config (INTERFACES §1).
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
if build_test_bins 2>"$work/err"; then
  injector="$target_dir/debug/testcar-injector"
  for s in "${scenarios[@]}"; do
    [ -f "$work/$s.config.yaml" ] || continue
    run "testcar-injector --check-config accepts the rendered config [$s]" \
      "$injector" --check-config --config "$work/$s.config.yaml"
  done
  # ...and is a real check: an unknown key is refused with exit 2, naming the key.
  cp "$work/default.config.yaml" "$work/bad.config.yaml"
  printf 'agentt:\n  port: 1\n' >>"$work/bad.config.yaml"
  rc=0
  "$injector" --check-config --config "$work/bad.config.yaml" >"$work/out" 2>&1 || rc=$?
  if [ "$rc" = 2 ] && grep -q agentt "$work/out"; then
    ok "testcar-injector --check-config refuses an unknown key (exit 2, names it)"
  else
    fail "testcar-injector --check-config refuses an unknown key (exit $rc)"; sed 's/^/     /' "$work/out"
  fi
else
  fail "cargo build (test binaries)"; sed 's/^/     /' "$work/err"
fi

# --- sample manifests ---------------------------------------------------------------------
mapfile -t examples < <(find examples/k8s -name '*.yaml' | sort)
if [ ${#examples[@]} -ge 6 ]; then
  run "kubernetes-validate $K8S_LATEST examples/k8s (${#examples[@]} files)" \
    "${CHECK[@]}" validate --k8s-version "$K8S_LATEST" "${examples[@]}"
  run "examples opt in with valid testcar.io annotations, one per tests source" \
    python3 tests/chart/check_examples.py "${examples[@]}"
  # ...and is a real check: runAsNonRoot without a numeric runAsUser is refused.
  sed '/runAsUser:/d' examples/k8s/shared.yaml >"$work/nonroot.yaml"
  if python3 tests/chart/check_examples.py "$work/nonroot.yaml" >"$work/out" 2>&1; then
    fail "a sample with runAsNonRoot but no numeric runAsUser is refused (it passed)"
  elif grep -q 'runAsNonRoot without a numeric runAsUser' "$work/out"; then
    ok "a sample with runAsNonRoot but no numeric runAsUser is refused"
  else
    fail "a sample with runAsNonRoot but no numeric runAsUser is refused, naming it"; sed 's/^/     /' "$work/out"
  fi
else
  fail "examples/k8s holds the samples (found ${#examples[@]})"
fi

# --- Dockerfiles --------------------------------------------------------------------------
run "hadolint Dockerfile.agent Dockerfile.injector Dockerfile.gate examples/k8s/tests-image/Containerfile" \
  hadolint --failure-threshold info Dockerfile.agent Dockerfile.injector Dockerfile.gate examples/k8s/tests-image/Containerfile
run "Dockerfiles build the binaries the chart runs, as non-root, with OCI labels" \
  python3 tests/chart/check_dockerfiles.py Dockerfile.injector Dockerfile.agent Dockerfile.gate
# ...and is a real check: an agent image without kinit is refused.
sed 's/ krb5-user//' Dockerfile.agent >"$work/Dockerfile.agent"
if python3 tests/chart/check_dockerfiles.py "$work/Dockerfile.agent" >"$work/out" 2>&1; then
  fail "an agent image without krb5-user (kinit) is refused"; sed 's/^/     /' "$work/out"
elif grep -q 'krb5-user' "$work/out"; then
  ok "an agent image without krb5-user (kinit) is refused"
else
  fail "an agent image without krb5-user (kinit) is refused, naming it"; sed 's/^/     /' "$work/out"
fi

# ...and an agent image without curl (exec suites, examples/tests/*.sh) is refused.
sed 's/ curl / /' Dockerfile.agent >"$work/Dockerfile.agent"
if python3 tests/chart/check_dockerfiles.py "$work/Dockerfile.agent" >"$work/out" 2>&1; then
  fail "an agent image without curl is refused"; sed 's/^/     /' "$work/out"
elif grep -q 'curl' "$work/out"; then
  ok "an agent image without curl is refused"
else
  fail "an agent image without curl is refused, naming it"; sed 's/^/     /' "$work/out"
fi

# ...and a base image without its digest, or pinned differently in two Dockerfiles, is refused.
sed 's/^FROM \(debian:bookworm-slim\)@sha256:[0-9a-f]*/FROM \1/' Dockerfile.agent >"$work/Dockerfile.agent"
if python3 tests/chart/check_dockerfiles.py "$work/Dockerfile.agent" >"$work/out" 2>&1; then
  fail "a base image pinned by tag only is refused"; sed 's/^/     /' "$work/out"
elif grep -q 'debian:bookworm-slim is not pinned by tag and digest' "$work/out"; then
  ok "a base image pinned by tag only is refused, naming it"
else
  fail "a base image pinned by tag only is refused, naming it"; sed 's/^/     /' "$work/out"
fi
sed 's/^\(FROM gcr.io\/distroless\/cc-debian12:nonroot@sha256:\)[0-9a-f]\{4\}/\1ffff/' Dockerfile.gate >"$work/Dockerfile.gate"
if python3 tests/chart/check_dockerfiles.py Dockerfile.injector "$work/Dockerfile.gate" >"$work/out" 2>&1; then
  fail "one base pinned to two digests is refused"; sed 's/^/     /' "$work/out"
elif grep -q 'cc-debian12:nonroot is pinned to sha256:ffff.* at Dockerfile.injector:' "$work/out"; then
  ok "one base pinned to two digests is refused, naming both places"
else
  fail "one base pinned to two digests is refused, naming both places"; sed 's/^/     /' "$work/out"
fi

echo "chart: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  printf '  failed: %s\n' "${failures[@]}" >&2
  exit 1
fi
