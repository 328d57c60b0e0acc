#!/usr/bin/env bash
# Kerberos tests of testcar-auth: a throw-away MIT KDC, Apache httpd with mod_auth_gssapi,
# the headers the `kerberos` cargo feature (libgssapi, bindgen) builds against, and
# /usr/bin/python3 for the test token service (CGI).
source "$(dirname "$0")/../lib.sh"
apt_install krb5-kdc krb5-admin-server krb5-user libkrb5-dev libclang-dev \
  apache2 libapache2-mod-auth-gssapi python3
