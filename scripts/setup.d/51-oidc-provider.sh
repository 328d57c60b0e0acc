#!/usr/bin/env bash
# OAuth2 tests of testcar-auth: a real client-credentials token server (npm oidc-provider),
# started by the tests from crates/testcar-auth/tests/oauth-server/server.mjs.
source "$(dirname "$0")/../lib.sh"
command -v node >/dev/null || apt_install nodejs npm
npm_install oidc-provider@9
