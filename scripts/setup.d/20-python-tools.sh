#!/usr/bin/env bash
# Python tools the injector tests use: an independent JSON Patch implementation (jsonpatch)
# and offline Kubernetes OpenAPI schema validation (kubernetes-validate).
source "$(dirname "$0")/../lib.sh"
pip_install jsonpatch=jsonpatch kubernetes_validate=kubernetes-validate
