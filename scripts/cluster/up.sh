#!/usr/bin/env bash
# Bring up a single-node Kubernetes on this machine from nothing: certificates and
# kubeconfigs, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with
# a CNI bridge, and a kubelet; then import the Testcar images. Everything lives in one state
# folder (TESTCAR_CLUSTER_DIR, default target/cluster); scripts/cluster/down.sh removes it all.
# Needs root (containerd and the kubelet manage namespaces, mounts and cgroups).
#   usage: up.sh      then: export KUBECONFIG=$TESTCAR_CLUSTER_DIR/kubeconfig
source "$(dirname "$0")/cluster-lib.sh"

[ "$(id -u)" = 0 ] || die "the local cluster needs root (containerd, kubelet); run as root"
if [ -f "$DIR/env" ] && api_ready 2>/dev/null; then
  log "cluster already up in $DIR"
  exit 0
fi
"$HERE/down.sh" >/dev/null 2>&1 || true
mkdir -p "$DIR" && touch "$DIR/.testcar-cluster"
mkdir -p "$DIR"/{pki,logs,run,etcd,containerd,kubelet,cni/net.d,cni/ipam,images}
trap 'on_error' ERR

BIN="$(bash "$HERE/build.sh" | tail -n 1)"
NODE_IP="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
[ -n "$NODE_IP" ] || NODE_IP="$(hostname -I | awk '{print $1}')"
[ -n "$NODE_IP" ] || die "no IPv4 address on this machine for the node"
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port)
KUBELET_PORT=$(free_port); KUBELET_HEALTHZ=$(free_port); CM_PORT=$(free_port); SCHED_PORT=$(free_port)
cat > "$DIR/env" <<EOF
export KUBECONFIG=$DIR/kubeconfig
NODE=$NODE
NODE_IP=$NODE_IP
API_PORT=$API_PORT
ETCD_PORT=$ETCD_PORT
BIN=$BIN
EOF

log "certificates (CA, API server, clients, kubelet, service accounts)"
PKI="$DIR/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=testcar-local-ca" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
# cert NAME SUBJECT EXTKEYUSAGE [SANS]
cert() {
  local name="$1" subj="$2" usage="$3" sans="${4:-}"
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$PKI/$name.key" \
    -out "$PKI/$name.csr" 2>/dev/null
  { echo "extendedKeyUsage=$usage"; [ -z "$sans" ] || echo "subjectAltName=$sans"; } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 2 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
}
cert apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1"
cert etcd "/CN=etcd" serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1"
cert admin "/O=system:masters/CN=testcar-admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kubelet-client "/O=system:nodes/CN=system:node:$NODE" clientAuth
cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE" serverAuth "DNS:$NODE,IP:$NODE_IP"
# The API server's identity towards kubelets (logs, exec, pod proxy).
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null

# kubeconfig NAME CERT: a kubeconfig for the local API server with client certificate CERT.
kubeconfig() {
  cat > "$DIR/$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testcar-local
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://$NODE_IP:$API_PORT
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: testcar-local
  context: {cluster: testcar-local, user: $2}
current-context: testcar-local
EOF
}
kubeconfig kubeconfig admin
kubeconfig controller-manager.kubeconfig controller-manager
kubeconfig scheduler.kubeconfig scheduler
kubeconfig kubelet.kubeconfig kubelet-client

log "etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$BIN/etcd" --name "$NODE" --data-dir "$DIR/etcd" \
  --listen-client-urls "https://127.0.0.1:$ETCD_PORT" --advertise-client-urls "https://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "$NODE=http://127.0.0.1:$ETCD_PEER" \
  --cert-file "$PKI/etcd.crt" --key-file "$PKI/etcd.key" --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
  --quota-backend-bytes 1073741824 --unsafe-no-fsync
wait_for "etcd health" 60 curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/etcd.crt" --key "$PKI/etcd.key" \
  "https://127.0.0.1:$ETCD_PORT/health"

log "kube-apiserver on https://$NODE_IP:$API_PORT"
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "https://127.0.0.1:$ETCD_PORT" --etcd-cafile "$PKI/ca.crt" \
  --etcd-certfile "$PKI/etcd.crt" --etcd-keyfile "$PKI/etcd.key" \
  --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port "$API_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --enable-aggregator-routing=true --allow-privileged=true \
  --profiling=false --v=1
wait_for "kube-apiserver /readyz" 180 api_ready

log "containerd (state in $DIR/containerd, CNI bridge $BRIDGE)"
cat > "$DIR/containerd/config.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here may lack CAP_SYS_RESOURCE (as in many VMs and CI sandboxes), so the kubelet's
  # negative oom_score_adj for sandboxes and Guaranteed pods (-998, -997) would be refused and
  # no pod could start; keep every container at or above containerd's own value instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
EOF
# No masquerading and no port mapping: the API server reaches pods over the bridge and the
# pods talk to themselves over localhost, so the bridge plugin need not touch iptables.
cat > "$DIR/cni/net.d/10-testcar.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "testcar",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$DIR/cni/ipam",
               "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    }
  ]
}
EOF
start containerd containerd --config "$DIR/containerd/config.toml"
wait_for "containerd" 60 ctr --address "$SOCK" version

log "images: pause and the Testcar images"
bash "$HERE/images.sh"

log "kube-controller-manager and kube-scheduler"
start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --use-service-account-credentials --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$CM_PORT" --profiling=false --v=1
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig "$DIR/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --profiling=false --v=1

log "kubelet (node $NODE, $NODE_IP:$KUBELET_PORT)"
cat > "$DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ
readOnlyPort: 0
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
# This machine mounts cgroup v1; 1.35 refuses it unless told otherwise.
failCgroupV1: false
failSwapOn: false
# The images were imported, not pulled: they could not be pulled again, so never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
maxPods: 60
# Mounted Secrets and ConfigMaps are refreshed on this period (default 1m): a rotated
# certificate reaches the injector within seconds.
syncFrequency: 10s
EOF
start kubelet "$BIN/kubelet" --config "$DIR/kubelet/config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
  --root-dir "$DIR/kubelet/root" --cert-dir "$DIR/kubelet/pki" \
  --hostname-override "$NODE" --node-ip "$NODE_IP" --v=1
node_ready() {
  [ "$(kubectl --kubeconfig "$DIR/kubeconfig" get node "$NODE" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
wait_for "node $NODE Ready" 180 node_ready
wait_for "service account default/default" 60 kubectl --kubeconfig "$DIR/kubeconfig" -n default get serviceaccount default
trap - ERR
log "cluster up: export KUBECONFIG=$DIR/kubeconfig"
