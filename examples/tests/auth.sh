# The protected route: refused without a token, served with one. In a pod the token comes
# from the credential chain as a file ($TESTCAR_BEARER_TOKEN_FILE); here from the manifest.
. ./check.sh
expect 401 GET /admin/stats
token=${SAMPLE_TOKEN:-}
if [ -n "${TESTCAR_BEARER_TOKEN_FILE:-}" ]; then token=$(cat "$TESTCAR_BEARER_TOKEN_FILE"); fi
AUTH_HEADER="Authorization: Bearer $token" expect 200 GET /admin/stats
done_checks
