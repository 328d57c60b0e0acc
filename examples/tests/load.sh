# A short load: 200 GET /items over 8 parallel connections; every answer must be 200.
set -eu
: "${TESTCAR_TARGET:?the agent sets TESTCAR_TARGET}"
codes=$(seq 200 | xargs -P 8 -I{} curl -sS -o /dev/null -w '%{http_code}\n' "$TESTCAR_TARGET/items" | sort | uniq -c)
echo "$codes"
bad=$(echo "$codes" | awk '$2 != "200" { n += $1 } END { print n + 0 }')
[ "$bad" -eq 0 ] || { echo "$bad non-200 responses"; exit 1; }
echo "200 requests, all 200"
