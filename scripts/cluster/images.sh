#!/usr/bin/env bash
# The local cluster's images, assembled from this workspace's binaries (no Docker engine and no
# registry here) and imported into containerd's k8s.io namespace:
#   testcar.local/pause:3                  the pod sandbox (scripts/cluster/pause)
#   testcar.local/testcar-injector:dev     as Dockerfile.injector: binary + glibc, uid 65532
#   testcar.local/testcar-agent:dev        as Dockerfile.agent: binary + its libraries, a POSIX
#                                          shell and core utilities (busybox), curl, uid 65532,
#                                          /etc/testcar/{tests,results} owned by it
#   testcar.local/testcar-agent:dev-net-admin  as Dockerfile.agent with NET_ADMIN_TOOLS=true:
#                                          the same plus tc and iptables (nft) with the
#                                          iptables extensions it loads at run time
#   testcar.local/testcar-gate:dev         as Dockerfile.gate
#   testcar.local/sample-service:dev       examples/sample-service on :8080 as a user's app
#                                          image would be: a shell, its tests in /app/testcar
# Binaries are the debug build `make test` makes (debug info stripped on the way in).
source "$(dirname "$0")/cluster-lib.sh"
OUT="$DIR/images"
mkdir -p "$OUT"
BIN="$(bash "$HERE/build.sh" | tail -n 1)"
build_test_bins
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (Debian package busybox-static; scripts/setup.d/80-cluster.sh installs it)"

# stripped NAME: the workspace binary NAME without its debug info, in the images folder.
stripped() {
  objcopy --strip-debug "$ROOT/target/debug/$1" "$OUT/$1"
  echo "$OUT/$1"
}
# The applets a shell script in an image may count on, as in Debian slim's coreutils.
shell_links=()
for a in sh cat cp ls mkdir mv rm echo env sleep test true false head tail grep sed wc date id; do
  shell_links+=(--link "/bin/$a=busybox")
done

image() {
  local name="$1"; shift
  python3 "$HERE/oci-image.py" --name "$IMAGE_PREFIX/$name" --out "$OUT/${name/:/_}.tar" "$@"
}

image "pause:3" --file "$BIN/pause=/pause" --entrypoint /pause --user 65535:65535
image "testcar-injector:$IMAGE_TAG" --file "$(stripped testcar-injector)=/usr/local/bin/testcar-injector" \
  --libs --user 65532:65532 --passwd nonroot:65532 --entrypoint /usr/local/bin/testcar-injector
# curl and the CA bundle, as Dockerfile.agent installs them for exec suites.
image "testcar-agent:$IMAGE_TAG" --file "$(stripped testcar-agent)=/usr/local/bin/testcar-agent" \
  --file "$BUSYBOX=/bin/busybox" --file /usr/bin/curl=/usr/bin/curl --libs "${shell_links[@]}" \
  --file /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt \
  --dir /etc/testcar/tests:65532:65532:0755 --dir /etc/testcar/results:65532:65532:0755 \
  --user 65532:65532 --passwd testcar:65532 \
  --entrypoint /usr/local/bin/testcar-agent --cmd sidecar
# The kernel-fault variant: iptables is xtables-nft-multi called by that name, and it dlopens
# its match and target extensions (comment, standard), which ldd cannot see.
xt_dirs=(/usr/lib/*/xtables)
XT="${xt_dirs[0]}"
[ -f "$XT/libxt_standard.so" ] && [ -x /usr/sbin/xtables-nft-multi ] && [ -x /usr/sbin/tc ] \
  || die "iptables (nft) and tc with their extensions are missing (Debian packages iptables and iproute2; scripts/setup.d/80-cluster.sh installs them)"
net_admin_files=(--file /usr/sbin/tc=/usr/sbin/tc --file /usr/sbin/xtables-nft-multi=/usr/sbin/xtables-nft-multi
  --link /usr/sbin/iptables=xtables-nft-multi)
for so in "$XT"/libxt_*.so "$XT"/libipt_*.so; do net_admin_files+=(--file "$so=$so"); done
image "testcar-agent:$IMAGE_TAG-net-admin" --file "$OUT/testcar-agent=/usr/local/bin/testcar-agent" \
  --file "$BUSYBOX=/bin/busybox" --file /usr/bin/curl=/usr/bin/curl "${net_admin_files[@]}" --libs "${shell_links[@]}" \
  --file /etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt \
  --dir /etc/testcar/tests:65532:65532:0755 --dir /etc/testcar/results:65532:65532:0755 \
  --user 65532:65532 --passwd testcar:65532 \
  --entrypoint /usr/local/bin/testcar-agent --cmd sidecar
image "testcar-gate:$IMAGE_TAG" --file "$(stripped testcar-gate)=/usr/local/bin/testcar-gate" \
  --libs --user 65532:65532 --passwd nonroot:65532 --entrypoint /usr/local/bin/testcar-gate
image "sample-service:$IMAGE_TAG" --file "$(stripped sample-service)=/app/sample-service" \
  --file "$BUSYBOX=/bin/busybox" --libs "${shell_links[@]}" \
  --file "$ROOT/examples/tests/smoke.yml=/app/testcar/smoke.yml" \
  --file "$ROOT/examples/tests-failing/admin.yml=/app/testcar-failing/admin.yml" \
  --user 65532:65532 --passwd app:65532 --workdir /app \
  --entrypoint /app/sample-service --cmd=--listen --cmd=0.0.0.0:8080

for tar in "$OUT"/*.tar; do
  ctr --address "$SOCK" -n k8s.io images import "$tar" >/dev/null \
    || die "ctr images import $tar failed"
done
grep -qx "$PAUSE_IMAGE" <<<"$(ctr --address "$SOCK" -n k8s.io images ls -q)" \
  || die "the pause image $PAUSE_IMAGE is not in containerd after the import"
log "images imported: $(ctr --address "$SOCK" -n k8s.io images ls -q | grep -c "^$IMAGE_PREFIX/")"
