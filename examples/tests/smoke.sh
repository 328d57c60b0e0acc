# Smoke: the service is up and answers its basic routes.
. ./check.sh
expect 200 GET /healthz
expect 200 GET /readyz
expect 200 GET /items
done_checks
