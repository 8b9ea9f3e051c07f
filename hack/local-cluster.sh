#!/usr/bin/env bash
# A real single-node Kubernetes for machines where kind cannot run, in the spirit of
# Kubernetes' hack/local-up-cluster.sh: etcd, the control plane, the kubelet and
# kube-proxy run as host processes; pods run in containerd (with runc).
#
#   hack/local-cluster.sh up       build if needed, start everything, import images,
#                                  return when the node is Ready (idempotent)
#   hack/local-cluster.sh down     stop every process started here (by pid), unmount,
#                                  remove netns, the CNI bridge and iptables chains
#   hack/local-cluster.sh status   what runs
#   hack/local-cluster.sh deps     install missing Debian packages
#
# State (certificates, etcd data, logs, the kubeconfig) lives in .local-cluster/ of
# the work tree (GRACEPROOF_LOCAL_CLUSTER_DIR overrides it); binaries and images in
# the cache outside it. The user's ~/.kube/config is never read nor written.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/versions.env"
source "$here/lib.sh"

state=${GRACEPROOF_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}
node=graceproof-local
pod_cidr=10.88.0.0/16
# The kubelet refuses a loopback node IP, so the node's address is the gateway of
# the pod bridge that up creates: an address of this cluster's own network, never
# one of the host's interfaces. NodePorts still listen on 127.0.0.1 only.
node_ip=10.88.0.1
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
bridge=gp-cni0
bridge_mac=02:67:70:00:00:01 # locally administered, unicast
bin=$(gp_bin_dir)
pki=$state/pki
logs=$state/logs
pids=$state/pids
sock=$state/containerd/containerd.sock
kubeconfig=$state/kubeconfig
up_timeout=${GRACEPROOF_UP_TIMEOUT:-180}

deps() {
  local missing=()
  for pair in containerd:containerd runc:runc ctr:containerd iptables:iptables conntrack:conntrack \
    openssl:openssl debootstrap:debootstrap nsenter:util-linux ip:iproute2 curl:curl \
    shellcheck:shellcheck; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  if ((${#missing[@]})); then
    gp_log "installing Debian packages: ${missing[*]}"
    [[ $(id -u) == 0 ]] || gp_die "root is needed to install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v go >/dev/null || gp_die "the Go toolchain is needed to build Kubernetes (go not on PATH)"
}

alive() { [[ -f $pids/$1.pid ]] && kill -0 "$(cat "$pids/$1.pid")" 2>/dev/null; }

# start NAME CMD...: run in its own session, output to logs/NAME.log, pid in pids/NAME.pid
start() {
  local name=$1; shift
  if alive "$name"; then return 0; fi
  gp_log "starting $name"
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name.pid"
}

# wait_until WHAT SECONDS CMD...: poll CMD until it succeeds; show progress; fail with the log
wait_until() {
  local what=$1 secs=$2 t0=$SECONDS next=10; shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - t0 >= secs)); then
      gp_log "timed out after ${secs}s waiting for $what; last log lines:"
      tail -n 20 "$logs/${what%% *}.log" 2>/dev/null >&2 || true
      return 1
    fi
    if ((SECONDS - t0 >= next)); then gp_log "still waiting for $what ($((SECONDS - t0))s)"; next=$((next + 10)); fi
    sleep 0.5
  done
}

# ---- certificates (openssl, one CA) -------------------------------------------------
cert() { # cert NAME CN [O] [SANS]
  local name=$1 cn=$2 org=${3:-} sans=${4:-} subj="/CN=$2"
  [[ -s $pki/$name.crt ]] && return 0
  [[ -n $org ]] && subj="/O=$org/CN=$cn"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext=$pki/$name.ext
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $sans ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

kubeconfig_for() { # kubeconfig_for FILE CERTNAME USER
  local file=$1 name=$2 user=$3
  [[ -s $file ]] && return 0
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: graceproof-local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$pki/$name.crt")
    client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
- name: graceproof-local
  context: {cluster: graceproof-local, user: $user}
current-context: graceproof-local
EOF
  chmod 600 "$file"
}

make_pki() {
  mkdir -p "$pki"
  if [[ ! -s $pki/ca.crt ]]; then
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=graceproof-local-ca" -days 3650 -out "$pki/ca.crt" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$service_ip"
  cert admin admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert proxy system:kube-proxy
  cert kubelet "system:node:$node" system:nodes "DNS:$node,DNS:localhost,IP:127.0.0.1,IP:$node_ip"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client
  [[ -s $pki/sa.key ]] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
  kubeconfig_for "$kubeconfig" admin admin
  kubeconfig_for "$state/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  kubeconfig_for "$state/scheduler.kubeconfig" scheduler system:kube-scheduler
  kubeconfig_for "$state/proxy.kubeconfig" proxy system:kube-proxy
  kubeconfig_for "$state/kubelet.kubeconfig" kubelet "system:node:$node"
}

# ---- configuration files ----------------------------------------------------------
write_configs() {
  mkdir -p "$state/containerd" "$state/cni/net.d" "$state/cni/ipam" "$state/kubelet"
  cat >"$state/containerd/config.toml" <<EOF
# containerd of graceproof's local cluster: own root, state and socket, so it never
# meets a system containerd.
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$sock.debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This sandbox may not lower oom_score_adj (no CAP_SYS_RESOURCE); without this,
  # runc fails every pod sandbox with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
EOF
  cat >"$state/cni/net.d/10-graceproof.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "graceproof",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$state/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$state/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# cgroup v1 host: 1.35 would refuse it by default; say so explicitly here too.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
# containerd 1.6 does not pin the sandbox image; it must never be collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
resolvConf: /etc/resolv.conf
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
EOF
  cat >"$state/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/proxy.kubeconfig}
# iptables mode: the nftables mode does not serve NodePorts on 127.0.0.1.
mode: iptables
hostnameOverride: $node
clusterCIDR: $pod_cidr
# NodePorts only on loopback: load goes to 127.0.0.1 and nowhere else.
nodePortAddresses: [127.0.0.0/8]
# 0 leaves the host's conntrack sysctls alone (they are read-only here).
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF
  cat >"$state/cluster.env" <<EOF
# Written by hack/local-cluster.sh; read by graceproof's existing-cluster provider.
CLUSTER_KIND=graceproof-local
CONTAINERD_ADDRESS=$sock
CTR=$(command -v ctr)
NODE_NAME=$node
KUBERNETES_VERSION=$KUBERNETES_VERSION
EOF
}

kubectl_() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
api_ready() { curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" https://127.0.0.1:6443/readyz; }
node_ready() {
  [[ $(kubectl_ get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
default_sa() { kubectl_ get serviceaccount default -n default; }

up() {
  local t0=$SECONDS
  deps
  bash "$here/build.sh"
  mkdir -p "$state" "$logs" "$pids"
  # An interrupted `up` leaves nothing half-started behind.
  trap 'gp_log "interrupted: taking the cluster down"; down; exit 130' INT TERM
  make_pki
  write_configs
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # The pod bridge exists before the kubelet starts: its gateway address is the node IP.
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  # A fixed address: a Linux bridge otherwise takes the lowest MAC of its ports, so
  # it changes as pods come and go while pods keep the old gateway MAC in their ARP
  # cache. A precaution: no failure was traced to it (a 2 s stall of every load user
  # first suspected here came from stale conntrack entries; see the locustfile).
  ip link set "$bridge" address "$bridge_mac"
  ip addr show dev "$bridge" | grep -q "inet $node_ip/" || ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
  ip link set "$bridge" up

  start containerd containerd --config "$state/containerd/config.toml"
  wait_until "containerd socket" 30 test -S "$sock"
  GRACEPROOF_LOCAL_CLUSTER_DIR=$state bash "$here/images.sh" >/dev/null

  start etcd "$bin/etcd" --name graceproof --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster graceproof=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --log-level warn
  wait_until "etcd" 30 curl -sf http://127.0.0.1:2379/health

  # Only the InternalIP (the bridge address) is used to reach the kubelet: a
  # hostname lookup would ask a DNS server outside this machine.
  # --advertise-address is loopback (no other host address is used) so the
  # endpoint reconciler, which refuses loopback endpoints, is turned off: pods here
  # never need the in-cluster API service.
  start kube-apiserver "$bin/kube-apiserver" --advertise-address=127.0.0.1 --bind-address=127.0.0.1 \
    --secure-port=6443 --etcd-servers=http://127.0.0.1:2379 --endpoint-reconciler-type=none \
    --service-cluster-ip-range="$service_cidr" --allow-privileged=true \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=InternalIP --v=1
  wait_until "kube-apiserver" 90 api_ready

  # The apiserver's kubelet client needs this binding, or exec and logs fail.
  kubectl_ create clusterrolebinding graceproof-apiserver-kubelet --clusterrole=system:kubelet-api-admin \
    --user=kube-apiserver-kubelet-client --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null

  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --service-cluster-ip-range="$service_cidr" --v=1
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$state/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --v=1
  start kubelet "$bin/kubelet" --config="$state/kubelet-config.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --root-dir="$state/kubelet" --cert-dir="$pki" --node-ip="$node_ip" --hostname-override="$node" --v=1
  start kube-proxy "$bin/kube-proxy" --config="$state/kube-proxy-config.yaml" --v=1

  wait_until "kubelet (node Ready)" "$up_timeout" node_ready
  wait_until "kube-controller-manager (default service account)" 60 default_sa
  trap - INT TERM
  gp_log "cluster up in $((SECONDS - t0))s; kubeconfig: $kubeconfig"
  gp_log "try: $bin/kubectl --kubeconfig $kubeconfig get nodes"
}

down() {
  local t0=$SECONDS
  [[ -d $state ]] || { gp_log "nothing to take down ($state does not exist)"; return 0; }
  # Control plane and node agents first, so nothing restarts pods while they go.
  # Each group gets SIGTERM at once and 5 s in all, rather than 5 s a process.
  stop_pids kube-proxy kubelet
  stop_pids kube-scheduler kube-controller-manager kube-apiserver
  stop_pids etcd
  # Pods: kill every process in the kubelet's pod cgroups (also after a crash,
  # when no pid file is left), then the shims of our containerd and containerd.
  kill_cgroup_tree kubepods
  if [[ -S $sock ]] && alive containerd; then
    for task in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
  fi
  pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io .*-address $sock" 2>/dev/null || true
  stop_pids containerd
  kill_cgroup_tree kubepods
  # Mounts under our state dir (overlay rootfs, shm, projected volumes), deepest first.
  awk -v s="$state/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # Network namespaces that containerd's CRI made (cni-*), our bridge, our chains.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link delete "$bridge" 2>/dev/null || true
  flush_chains
  rm -rf "$state/cni/ipam" "$state/etcd"
  gp_log "cluster down in $((SECONDS - t0))s"
}

# stop_pids NAME...: SIGTERM to each started process, up to 5 s for all to exit, then SIGKILL.
stop_pids() {
  local name pid alive running=()
  for name in "$@"; do
    [[ -f $pids/$name.pid ]] || continue
    running+=("$(cat "$pids/$name.pid")")
    rm -f "$pids/$name.pid"
  done
  ((${#running[@]})) || return 0
  kill -TERM "${running[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  kill -KILL "${running[@]}" 2>/dev/null || true
}

kill_cgroup_tree() {
  local root=$1 d
  for ctl in /sys/fs/cgroup/*/; do
    [[ -d $ctl$root ]] || continue
    # shellcheck disable=SC2038 # cgroup.procs holds pids, one a line; file names are fixed
    find "$ctl$root" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  sleep 0.2
  for ctl in /sys/fs/cgroup/*/; do
    [[ -d $ctl$root ]] || continue
    find "$ctl$root" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  done
}

# Chains that kube-proxy, the kubelet and the CNI plugins make: KUBE-* and CNI-*.
flush_chains() {
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      # Rules in built-in chains that jump to ours, then our chains. The rules
      # carry quoted comments, so each -S line is re-read by the shell (eval).
      "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-' \
        | sed 's/^-A/-D/' | while read -r rule; do
          eval "\"\$ipt\" -t \"\$table\" $rule" 2>/dev/null || true
        done || true # grep finds nothing once they are gone
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

status() {
  local name
  for name in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    if alive "$name"; then echo "$name running (pid $(cat "$pids/$name.pid"))"; else echo "$name stopped"; fi
  done
  if [[ -s $kubeconfig ]] && node_ready; then echo "node $node Ready; kubeconfig $kubeconfig"; else echo "node not ready"; return 1; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  deps) deps ;;
  *) echo "usage: $0 up|down|status|deps" >&2; exit 2 ;;
esac
