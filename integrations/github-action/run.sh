#!/usr/bin/env bash
# The Testcar gate action's step (action.yml maps every input to INPUT_<NAME>, hyphens as _):
# find or fetch testcar-gate, run it, append its Markdown summary to $GITHUB_STEP_SUMMARY, set
# the outputs in $GITHUB_OUTPUT, and fail the step on exit 1 (always) or 2 (fail-on-error).
set -uo pipefail

input() { local v="INPUT_$1"; printf '%s' "${!v:-${2:-}}"; }
out() { printf '%s=%s\n' "$1" "$2" >> "${GITHUB_OUTPUT:-/dev/null}"; }
die() { echo "::error title=Testcar gate::$*"; exit 2; }
truthy() { case "${1,,}" in true | yes | 1 | on) return 0 ;; false | no | 0 | off | "") return 1 ;; *) die "$2: expected true or false, not '$1'" ;; esac; }
an='abcdefghijklmnopqrstuvwxyz0123456789' # spelt out: [a-z] follows the locale's collation
dns_label="[$an]([-$an]*[$an])?"
# NAMESPACE/NAME of a ConfigMap: the namespace a DNS label (63 at most), the name a DNS subdomain (253)
is_configmap_ref() {
  local namespace="${1%%/*}" name="${1#*/}"
  [[ "$1" =~ ^$dns_label/$dns_label(\.$dns_label)*$ ]] && [ ${#namespace} -le 63 ] && [ ${#name} -le 253 ]
}

namespace="$(input NAMESPACE)"
kind="$(input WORKLOAD_KIND deployment)"
workload="$(input WORKLOAD)"
timeout="$(input TIMEOUT 10m)"
min_pods="$(input MIN_PODS 1)"
junit="$(input JUNIT_PATH testcar/junit.xml)"
[ -n "$namespace" ] || die "input required: namespace"
[ -n "$workload" ] || die "input required: workload"
case "$kind" in deployment | statefulset | selector | pod) ;; *) die "workload-kind '$kind': expected deployment, statefulset, selector or pod" ;; esac
[[ "$min_pods" =~ ^[1-9][0-9]*$ ]] || die "min-pods must be a whole number of at least 1, not '$min_pods'"
rollback=false
if truthy "$(input ROLLBACK false)" rollback; then
  [ "$kind" = deployment ] || die "rollback works with workload-kind deployment only"
  rollback=true
fi
fail_fast=false
truthy "$(input FAIL_FAST false)" fail-fast && fail_fast=true
fail_on_error=true
truthy "$(input FAIL_ON_ERROR true)" fail-on-error || fail_on_error=false
verified_configmap="$(input VERIFIED_CONFIGMAP)"
if [ -n "$verified_configmap" ] && ! is_configmap_ref "$verified_configmap"; then
  die "verified-configmap '$verified_configmap': expected NAMESPACE/NAME of a ConfigMap (namespace a DNS label, name a DNS subdomain), e.g. testcar-system/testcar-verified"
fi
mark_verified=true
truthy "$(input MARK_VERIFIED true)" mark-verified || mark_verified=false

work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/testcar-gate-$$"
mkdir -p "$work"
written_kubeconfig=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { [ -n "$written_kubeconfig" ] && rm -f "$written_kubeconfig"; return 0; }
trap cleanup EXIT

# --- the binary: gate-path, else the release named by gate-version or the action's tag, else PATH
gate="$(input GATE_PATH)"
version="$(input GATE_VERSION)"
if [ -z "$gate" ] && [ -z "$version" ] && [[ "${TESTCAR_ACTION_REF:-}" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  version="$TESTCAR_ACTION_REF"
fi
if [ -n "$gate" ]; then
  [ -x "$gate" ] || die "gate-path $gate is not an executable file"
elif [ -n "$version" ]; then
  tag="v${version#v}"
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) asset=testcar-gate-linux-amd64 ;;
    Linux/aarch64 | Linux/arm64) asset=testcar-gate-linux-arm64 ;;
    *) die "no testcar-gate release binary for $(uname -s)/$(uname -m) (releases ship linux amd64 and arm64): set gate-path" ;;
  esac
  base="$(input GATE_RELEASE_URL https://github.com/testcar/testcar/releases/download)"
  base="${base%/}/$tag"
  cache="${RUNNER_TOOL_CACHE:-$work}/testcar-gate/${tag#v}"
  mkdir -p "$cache"
  echo "Fetching testcar-gate ${tag#v} from $base (checked against sha256sums.txt)"
  curl -fsSL --retry 3 -o "$work/sha256sums.txt" "$base/sha256sums.txt" || die "cannot fetch $base/sha256sums.txt"
  want="$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1 }' "$work/sha256sums.txt")"
  [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "sha256sums.txt has no line for $asset"
  gate="$cache/testcar-gate"
  if [ ! -x "$gate" ] || [ "$(sha256sum "$gate" | cut -d' ' -f1)" != "$want" ]; then
    curl -fsSL --retry 3 -o "$work/$asset" "$base/$asset" || die "cannot fetch $base/$asset"
    got="$(sha256sum "$work/$asset" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || die "checksum mismatch for $base/$asset: sha256 $got, sha256sums.txt says $want"
    install -m 0755 "$work/$asset" "$gate"
  fi
else
  gate="$(command -v testcar-gate || true)"
  [ -n "$gate" ] || die "no testcar-gate: set gate-version (or use the action at a version tag), gate-path, or put testcar-gate on PATH"
fi

# --- the cluster
args=(--namespace "$namespace" "--$kind" "$workload" --timeout "$timeout" --min-pods "$min_pods")
json="$work/gate.json"
summary="$work/summary.md"
args+=(--junit "$junit" --json "$json" --summary-markdown "$summary")
content="$(input KUBECONFIG_CONTENT)"
kubeconfig="$(input KUBECONFIG)"
if [ -n "$content" ]; then
  [ -z "$kubeconfig" ] || die "set kubeconfig or kubeconfig-content, not both"
  written_kubeconfig="$work/kubeconfig"
  (umask 077 && printf '%s\n' "$content" > "$written_kubeconfig")
  kubeconfig="$written_kubeconfig"
fi
if [ -n "$kubeconfig" ]; then
  [ -f "$kubeconfig" ] || die "kubeconfig file $kubeconfig does not exist"
  args+=(--kubeconfig "$kubeconfig")
fi
context="$(input CONTEXT)"
[ -n "$context" ] && args+=(--context "$context")
$fail_fast && args+=(--fail-fast)
$rollback && args+=(--rollback)
[ -n "$verified_configmap" ] && args+=(--verified-configmap "$verified_configmap")
$mark_verified || args+=(--no-mark-verified)

# --- run
rm -f "$json" "$summary"
echo "::group::testcar-gate ${args[*]}"
TESTCAR_LOG_FORMAT="${TESTCAR_LOG_FORMAT:-text}" "$gate" "${args[@]}"
code=$?
echo "::endgroup::"

status="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$json" 2>/dev/null || true)"
if [ -z "$status" ]; then
  case "$code" in 0) status=passed ;; 1) status=failed ;; *) status=error ;; esac
fi
error="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error") or "")' "$json" 2>/dev/null | tr '\n' ' ' || true)"
out status "$status"
out exit-code "$code"
out junit-path "$junit"
out result-json "$json"
out summary-markdown "$summary"
if [ ! -f "$summary" ]; then
  printf '## Testcar gate: ⚠️ ERROR\n\ntestcar-gate exited with %s without writing its summary; see the step log.\n' "$code" > "$summary"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$summary" >> "$GITHUB_STEP_SUMMARY"
fi

case "$code" in
  0) echo "Testcar gate passed" ;;
  1) echo "::error title=Testcar gate::a pod's tests did not pass (see the job summary)"; exit 1 ;;
  2)
    if $fail_on_error; then
      echo "::error title=Testcar gate::could not judge the rollout (exit 2): ${error:-see the log}"
      exit 2
    fi
    echo "::warning title=Testcar gate::could not judge the rollout (exit 2): ${error:-see the log}"
    ;;
  *) echo "::error title=Testcar gate::testcar-gate exited with $code, not a verdict (0, 1 or 2)"; exit "$code" ;;
esac
exit 0
