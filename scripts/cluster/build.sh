#!/usr/bin/env bash
# Build the local cluster's own binaries from their Go modules, once per pin: `kube` (the
# Kubernetes control plane and kubelet in one binary, version from kube/go.mod), `etcd`
# (etcd/go.mod) and `pause` (the pod sandbox). They are cached per user, keyed by the pinned
# version and a hash of the wrapper module, so every clone on a machine reuses them; a
# rebuild happens only when a pin changes. Prints nothing on a cache hit.
#   usage: build.sh            (builds what is missing; prints the bin folder last)
source "$(dirname "$0")/../lib.sh"
HERE="$ROOT/scripts/cluster"
CACHE="${TESTCAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/testcar}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
# Two clones building at once would write the same folders: one builds, the other waits.
mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9

# pin DIR MODULE: the version of MODULE that DIR/go.mod requires.
pin() { awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) && /v[0-9]/ {print $NF; exit}' "$1/go.mod"; }

# key DIR MODULE: the pinned version plus a hash of everything that decides the build.
key() {
  local dir="$1" v
  v="$(pin "$dir" "$2")"
  echo "${v:-local}-$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go 2>/dev/null | sha256sum | cut -c1-12)"
}

# build NAME MODULE LDFLAGS: go build HERE/NAME into CACHE/NAME-KEY/NAME unless it is there.
build() {
  local name="$1" ldflags="$3" dir="$HERE/$1" out
  out="$CACHE/$name-$(key "$dir" "$2")"
  if [ ! -x "$out/$name" ]; then
    log "build $name from its Go module ($(basename "$out")); the first build takes a while"
    local started=$SECONDS
    mkdir -p "$out.tmp"
    (cd "$dir" && go build -p "$(nproc)" -trimpath -tags selinux,notest \
      -ldflags "-s -w $ldflags" -o "$out.tmp/$name" .)
    rm -rf "$out" && mv "$out.tmp" "$out"
    log "built $name in $((SECONDS - started)) s"
  fi
  mkdir -p "$CACHE/bin"
  ln -sfn "$out/$name" "$CACHE/bin/$name"
}

kube_version="$(pin "$HERE/kube" k8s.io/kubernetes)"
minor="$(echo "$kube_version" | cut -d. -f2)"
# What hack/lib/version.sh stamps: without it every component reports v0.0.0-master, which
# kubectl, helm's kubeVersion checks and version-skew rules all read.
X=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  X="$X -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  X="$X -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build kube k8s.io/kubernetes "$X"
# One link per component: the binary dispatches on its name, and process listings show it.
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  ln -sfn "$(readlink "$CACHE/bin/kube")" "$CACHE/bin/$c"
done
build etcd go.etcd.io/etcd/server/v3 ""
build pause none ""
echo "$CACHE/bin"
