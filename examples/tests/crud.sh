# CRUD on /items: create, read, update, delete, then the item is gone.
. ./check.sh
expect 201 POST /items '{"name":"widget","quantity":3}'
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' "$BODY")
[ -n "$id" ] || { echo "FAIL no id in $(cat "$BODY")"; exit 1; }
expect 200 GET "/items/$id"
expect 200 PUT "/items/$id" '{"name":"widget","quantity":5}'
grep -q '"quantity":5' "$BODY" || { echo "FAIL update not applied: $(cat "$BODY")"; FAILED=$((${FAILED:-0}+1)); }
expect 204 DELETE "/items/$id"
expect 404 GET "/items/$id"
expect 422 POST /items '{"name":""}'
done_checks
