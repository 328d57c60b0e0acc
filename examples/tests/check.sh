# Helpers for the example exec suites (sourced): HTTP checks with curl against
# $TESTCAR_TARGET, which the agent sets for every exec suite.
set -eu
: "${TESTCAR_TARGET:?the agent sets TESTCAR_TARGET}"
BODY="${TESTCAR_SUITE_RESULTS_DIR:-${TMPDIR:-/tmp}}/last-body"

# expect CODE METHOD PATH [JSON]: send the request, fail unless the status is CODE.
expect() {
  want=$1 method=$2 path=$3 data=${4:-}
  if [ -n "$data" ]; then
    got=$(curl -sS -o "$BODY" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
      ${AUTH_HEADER:+-H "$AUTH_HEADER"} --data "$data" "$TESTCAR_TARGET$path")
  else
    got=$(curl -sS -o "$BODY" -w '%{http_code}' -X "$method" \
      ${AUTH_HEADER:+-H "$AUTH_HEADER"} "$TESTCAR_TARGET$path")
  fi
  if [ "$got" = "$want" ]; then
    echo "ok   $method $path -> $got"
  else
    echo "FAIL $method $path -> $got (expected $want): $(head -c 200 "$BODY")"
    FAILED=$(( ${FAILED:-0} + 1 ))
  fi
}

# done_checks: exit 1 if any check failed.
done_checks() {
  if [ "${FAILED:-0}" -gt 0 ]; then
    echo "$FAILED check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
