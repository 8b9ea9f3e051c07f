#!/usr/bin/env bash
# A real Kubernetes of one or more nodes for machines where kind cannot run, in the
# spirit of Kubernetes' hack/local-up-cluster.sh: etcd, the control plane, the
# kubelets and kube-proxy run as host processes; pods run in containerd (with runc).
#
#   hack/local-cluster.sh up [--nodes N]
#                                  build if needed, start everything, import images,
#                                  return when every node is Ready (idempotent; N from
#                                  1 to 4, default $NODES or 1); KUBE_PROXY_MODE=nftables
#                                  runs kube-proxy in that mode (iptables by default)
#   hack/local-cluster.sh down     stop every process started here (by pid), unmount,
#                                  remove netns, the CNI bridge, iptables chains and
#                                  kube-proxy's nftables tables
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
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
max_nodes=4
# Every node's pod CIDR (10.88/16, 10.89/16, ...) lies in this one range.
cluster_cidr=10.88.0.0/14
bin=$(gp_bin_dir)
pki=$state/pki
logs=$state/logs
pids=$state/pids
sock=$state/containerd/containerd.sock
kubeconfig=$state/kubeconfig
nodes_file=$state/nodes
up_timeout=${GRACEPROOF_UP_TIMEOUT:-180}
# Alpha gates the proofs need, on the API server and every kubelet (NAME=true,...):
# ContainerStopSignals (KEP-4960, alpha in 1.33 and 1.34) for lifecycle.stopSignal,
# which the API server drops while it is off. This containerd (Debian's 1.6) does not
# know the field, and the stop-signal proof shows what that does.
feature_gates=ContainerStopSignals=true

# ---- nodes ---------------------------------------------------------------------
# Node 1 keeps the paths of the single-node cluster; node N > 1 lives in node-N/.
# Each node is a kubelet with its own containerd (root, state, socket), pod CIDR,
# bridge, node IP and cgroup root. They share this host's network namespace, so one
# kube-proxy serves every node, and the host's route to each bridge joins their pods.
node_name() { if (($1 == 1)); then echo "$node"; else echo "$node-$1"; fi; }
node_dir() { if (($1 == 1)); then echo "$state"; else echo "$state/node-$1"; fi; }
node_cidr() { echo "10.$((87 + $1)).0.0/16"; }
# The kubelet refuses a loopback node IP, so a node's address is the gateway of the
# pod bridge that up creates: an address of this cluster's own network, never one of
# the host's interfaces. NodePorts still listen on 127.0.0.1 only.
node_ip() { echo "10.$((87 + $1)).0.1"; }
node_bridge() { echo "gp-cni$(($1 - 1))"; }
node_mac() { printf '02:67:70:00:00:%02x' "$1"; } # locally administered, unicast
node_sock() { echo "$(node_dir "$1")/containerd/containerd.sock"; }
node_proc() { if (($1 == 1)); then echo "$2"; else echo "$2-$1"; fi; } # process name
# Node 1's pods live under the host's /kubepods; node N's under /gp-node-N/kubepods.
node_cgroup() { if (($1 == 1)); then echo kubepods; else echo "gp-node-$1"; fi; }
# The nodes that up started (down and status read it; a missing file: one node).
running_nodes() { if [[ -s $nodes_file ]]; then cat "$nodes_file"; else echo 1; fi; }

deps() {
  local missing=()
  for pair in containerd:containerd runc:runc ctr:containerd iptables:iptables conntrack:conntrack \
    openssl:openssl debootstrap:debootstrap nsenter:util-linux ip:iproute2 curl:curl \
    shellcheck:shellcheck nginx:nginx-light; do
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

# The address:port each process listens on, checked free before it starts: a
# process left from another state dir (another clone's cluster) holding one would
# make ours exit at once, and the wait for it would time out without a reason.
ports_of() {
  case $1 in
    etcd) echo 127.0.0.1:2379 127.0.0.1:2380 127.0.0.1:2381 ;;
    kube-apiserver) echo 127.0.0.1:6443 ;;
    kube-controller-manager) echo 127.0.0.1:10257 ;;
    kube-scheduler) echo 127.0.0.1:10259 ;;
    kube-proxy) echo 127.0.0.1:10249 127.0.0.1:10256 ;;
    kubelet) echo "$(node_ip 1):10250 127.0.0.1:10248" ;;
    kubelet-*) echo "$(node_ip "${1#kubelet-}"):10250 $(node_ip "${1#kubelet-}"):10248" ;;
  esac
}

# port_holder ADDR:PORT: "pid N (command line)" of what listens there, or nothing.
port_holder() {
  local line pid
  line=$(ss -Hltnp 2>/dev/null | awk -v a="${1%:*}" -v p="${1##*:}" '
    { n = split($4, f, ":"); la = substr($4, 1, length($4) - length(f[n]) - 1) }
    f[n] == p && (la == a || la == "0.0.0.0" || la == "*" || la == "[::]") { print; exit }')
  [[ -n $line ]] || return 0
  pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line")
  if [[ -n $pid && -r /proc/$pid/cmdline ]]; then
    echo "pid $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-200))"
  else
    echo "another process ($line)"
  fi
}

# ports_free NAME: fail, naming the holder and the fix, if NAME's ports are taken.
ports_free() {
  local addr holder
  for addr in $(ports_of "$1"); do
    holder=$(port_holder "$addr")
    [[ -z $holder ]] || gp_die "$1 cannot start: $addr, where it listens, is held by $holder." \
      "Stop that process; if it is another clone's local cluster, run hack/local-cluster.sh down in that clone."
  done
}

# start NAME CMD...: run in its own session, output to logs/NAME.log, pid in
# pids/NAME.pid; the command is kept so that wait_until can restart it once.
declare -A started=() restarted=()
start() {
  local name=$1; shift
  if alive "$name"; then return 0; fi
  ports_free "$name"
  gp_log "starting $name"
  started[$name]=$(printf '%q ' "$@")
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pids/$name.pid"
}

# wait_until WHAT SECONDS CMD...: poll CMD until it succeeds; show progress; fail
# with the log. WHAT's first word names the process. Should it exit meanwhile, or
# the wait time out, its log is shown and it is started again, once, as a supervisor
# would (a start on a busy 2-core machine can fail where a second one passes); the
# next exit or timeout fails the wait.
wait_until() {
  local what=$1 secs=$2 t0=$SECONDS next=10 proc=${1%% *} why; shift 2
  until "$@" >/dev/null 2>&1; do
    why=
    if [[ -n ${started[$proc]:-} ]] && ! alive "$proc"; then
      why="$proc exited while waiting for $what"
    elif ((SECONDS - t0 >= secs)); then
      why="timed out after ${secs}s waiting for $what"
    fi
    if [[ -n $why ]]; then
      gp_log "$why; last log lines of $proc:"
      tail -n 20 "$logs/$proc.log" >&2 2>/dev/null || true
      [[ -n ${started[$proc]:-} && -z ${restarted[$proc]:-} ]] || return 1
      restarted[$proc]=1
      gp_log "starting $proc again (once)"
      stop_pids "$proc"
      eval "start $proc ${started[$proc]}"
      t0=$SECONDS next=10
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
  cert apiserver-kubelet-client kube-apiserver-kubelet-client
  [[ -s $pki/sa.key ]] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
  kubeconfig_for "$kubeconfig" admin admin
  kubeconfig_for "$state/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  kubeconfig_for "$state/scheduler.kubeconfig" scheduler system:kube-scheduler
  kubeconfig_for "$state/proxy.kubeconfig" proxy system:kube-proxy
}

node_pki() { # node_pki N: node N's kubelet serving certificate and client kubeconfig
  local i=$1 name ip cert_name=kubelet
  name=$(node_name "$i") ip=$(node_ip "$i")
  ((i == 1)) || cert_name=kubelet-$i
  mkdir -p "$(node_dir "$i")"
  cert "$cert_name" "system:node:$name" system:nodes "DNS:$name,DNS:localhost,IP:127.0.0.1,IP:$ip"
  kubeconfig_for "$(node_dir "$i")/kubelet.kubeconfig" "$cert_name" "system:node:$name"
}

# ---- configuration files ----------------------------------------------------------
write_node_configs() { # write_node_configs N: containerd, CNI and kubelet of node N
  local i=$1 dir nsock cidr ip cert_name=kubelet cgroup_root=/ logs_dir=/var/log/pods healthz=127.0.0.1
  dir=$(node_dir "$i") nsock=$(node_sock "$i") cidr=$(node_cidr "$i") ip=$(node_ip "$i")
  if ((i > 1)); then
    cert_name=kubelet-$i cgroup_root=/$(node_cgroup "$i") logs_dir=$dir/pod-logs healthz=$ip
  fi
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam" "$dir/kubelet"
  cat >"$dir/containerd/config.toml" <<EOF
# containerd of node $(node_name "$i") of graceproof's local cluster: own root, state
# and socket, so it never meets a system containerd or another node's.
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$nsock"
[ttrpc]
  address = "$nsock.ttrpc"
[debug]
  address = "$nsock.debug"
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
    conf_dir = "$dir/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
EOF
  cat >"$dir/cni/net.d/10-graceproof.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "graceproof",
  "plugins": [
    {
      "type": "bridge", "bridge": "$(node_bridge "$i")", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$dir/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # Node 1 answers health checks on 127.0.0.1:10248 as before, the others on their
  # own address (same port). Each node's pod logs lie apart: a kubelet removes the
  # log folders of pods it does not know.
  cat >"$dir/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: $healthz
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
podLogsDir: $logs_dir
# cgroup v1 host: 1.35 would refuse it by default; say so explicitly here too.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$nsock
# containerd 1.6 does not pin the sandbox image; it must never be collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
resolvConf: /etc/resolv.conf
featureGates: {$(sed 's/=/: /g; s/,/, /g' <<<"$feature_gates")}
tlsCertFile: $pki/$cert_name.crt
tlsPrivateKeyFile: $pki/$cert_name.key
EOF
}

write_configs() { # write_configs NODES: what the whole cluster shares
  local i socks=() proxy_mode=${KUBE_PROXY_MODE:-iptables}
  [[ $proxy_mode == iptables || $proxy_mode == nftables ]] \
    || gp_die "KUBE_PROXY_MODE must be iptables or nftables (kube-proxy's modes on Linux), not '$proxy_mode'"
  for i in $(seq 1 "$1"); do socks+=("$(node_sock "$i")"); done
  # kube-proxy exits on any write to its config file ("content of the proxy server's
  # configuration file was updated"): an `up` of a running cluster (each `make e2e`)
  # rewrote it, and the NodePorts went silent for the rest of the run. So the file is
  # written only when its content changes, and a running kube-proxy is then stopped
  # first, to be started again below with the new one.
  cat >"$state/kube-proxy-config.yaml.new" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/proxy.kubeconfig}
# KUBE_PROXY_MODE (iptables by default): in nftables mode kube-proxy serves no NodePort
# on 127.0.0.1 ("localhost NodePorts are not supported"), where the host's load enters,
# so only a load from inside the cluster reaches the Services then
# (tests/e2e/test_proxy_modes.py runs its proofs that way). kube-proxy removes the other
# mode's rules when it starts.
mode: $proxy_mode
hostnameOverride: $node
# Every node's pods: the nodes share this host's network namespace, so this one
# kube-proxy programs the Services for all of them.
clusterCIDR: $cluster_cidr
# NodePorts only on loopback: load goes to 127.0.0.1 and nowhere else.
nodePortAddresses: [127.0.0.0/8]
# 0 leaves the host's conntrack sysctls alone (they are read-only here).
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF
  if cmp -s "$state/kube-proxy-config.yaml.new" "$state/kube-proxy-config.yaml"; then
    rm -f "$state/kube-proxy-config.yaml.new"
  else
    stop_pids kube-proxy
    mv "$state/kube-proxy-config.yaml.new" "$state/kube-proxy-config.yaml"
  fi
  cat >"$state/cluster.env" <<EOF
# Written by hack/local-cluster.sh; read by graceproof's existing-cluster provider.
CLUSTER_KIND=graceproof-local
CONTAINERD_ADDRESS=$sock
# Every node's containerd, where images are imported (space-separated).
CONTAINERD_ADDRESSES="${socks[*]}"
CTR=$(command -v ctr)
NODE_NAME=$node
NODES=$1
KUBERNETES_VERSION=$KUBERNETES_VERSION
EOF
}

# start_node N: node N's bridge, cgroup root, containerd and kubelet (node 1 also
# gets the images through up; the others here).
start_node() {
  local i=$1 dir bridge ip cidr
  dir=$(node_dir "$i") bridge=$(node_bridge "$i") ip=$(node_ip "$i") cidr=$(node_cidr "$i")
  node_pki "$i"
  write_node_configs "$i"
  # The pod bridge exists before the kubelet starts: its gateway address is the node IP.
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  # A fixed address: a Linux bridge otherwise takes the lowest MAC of its ports, so
  # it changes as pods come and go while pods keep the old gateway MAC in their ARP
  # cache. A precaution: no failure was traced to it (a 2 s stall of every load user
  # first suspected here came from stale conntrack entries; see workloads/locust_ports.py).
  ip link set "$bridge" address "$(node_mac "$i")"
  ip addr show dev "$bridge" | grep -q "inet $ip/" || ip addr add "$ip/${cidr#*/}" dev "$bridge"
  ip link set "$bridge" up
  ((i == 1)) || make_cgroup_root "$(node_cgroup "$i")"
  start "$(node_proc "$i" containerd)" containerd --config "$dir/containerd/config.toml"
  wait_until "$(node_proc "$i" containerd) socket" 30 test -S "$(node_sock "$i")"
}

start_kubelet() { # start_kubelet N
  local i=$1 dir
  dir=$(node_dir "$i")
  start "$(node_proc "$i" kubelet)" "$bin/kubelet" --config="$dir/kubelet-config.yaml" \
    --kubeconfig="$dir/kubelet.kubeconfig" --root-dir="$dir/kubelet" --cert-dir="$pki" \
    --node-ip="$(node_ip "$i")" --hostname-override="$(node_name "$i")" --v=1
}

# make_cgroup_root NAME: /NAME in every cgroup v1 hierarchy (the kubelet refuses a
# cgroup root that does not exist), cpuset ready for tasks; on v2, in the one tree.
make_cgroup_root() {
  local name=$1 ctl
  for ctl in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [[ -f ${ctl}cgroup.procs ]] || continue
    mkdir -p "$ctl$name"
    if [[ -f ${ctl}cpuset.cpus && -f $ctl$name/cpuset.cpus && ! -s $ctl$name/cpuset.cpus ]]; then
      cat "${ctl}cpuset.cpus" >"$ctl$name/cpuset.cpus"
      cat "${ctl}cpuset.mems" >"$ctl$name/cpuset.mems"
    fi
  done
}

kubectl_() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
api_ready() { curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" https://127.0.0.1:6443/readyz; }
node_ready() { # node_ready [NAME]
  [[ $(kubectl_ get node "${1:-$node}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}
default_sa() { kubectl_ get serviceaccount default -n default; }

# parse_nodes ARGS...: the node count from --nodes N (or --nodes=N), else $NODES, else 1.
parse_nodes() {
  local n=${NODES:-1}
  while (($#)); do
    case $1 in
      --nodes) [[ $# -ge 2 ]] || gp_die "--nodes needs a value (1 to $max_nodes)"; n=$2; shift 2 ;;
      --nodes=*) n=${1#--nodes=}; shift ;;
      *) gp_die "unknown option $1 (usage: $0 up [--nodes N])" ;;
    esac
  done
  if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > max_nodes)); then
    gp_die "--nodes (or NODES) must be a whole number from 1 to $max_nodes, not '$n'"
  fi
  echo "$n"
}

up_failed() {
  (($1)) || return 0
  if (($1 == 130)); then gp_log "interrupted: taking the cluster down"; else gp_log "up failed: taking the cluster down (its logs stay in $logs)"; fi
  down
}

up() {
  local t0=$SECONDS n i kind_nodes
  n=$(parse_nodes "$@")
  # hack/docker.sh's dockerd: its kind nodes would serve 127.0.0.1:30080-30089 too, and
  # its containers have no NAT, so the forwarding this cluster turns on would let their
  # packets leave the machine. One or the other runs.
  if bash "$here/docker.sh" status >/dev/null 2>&1; then
    kind_nodes=$(bash "$here/docker.sh" kind-nodes 2>/dev/null | tr '\n' ' ' || true)
    gp_die "hack/docker.sh's dockerd runs${kind_nodes:+ (kind nodes: ${kind_nodes% })}, and the two" \
      "never run at once: stop it first (hack/docker.sh down)"
  fi
  if [[ -s $nodes_file ]] && alive kube-apiserver && (($(cat "$nodes_file") > n)); then
    gp_die "the local cluster runs $(cat "$nodes_file") nodes, more than the $n asked for: take it down first (hack/local-cluster.sh down)"
  fi
  # Every port is checked before anything starts (start checks again, for restarts).
  local proc
  for proc in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy \
    $(for i in $(seq 1 "$n"); do node_proc "$i" kubelet; done); do
    alive "$proc" || ports_free "$proc"
  done
  deps
  bash "$here/build.sh"
  mkdir -p "$state" "$logs" "$pids"
  # An interrupted or failed `up` leaves nothing half-started behind (the logs stay).
  trap 'exit 130' INT TERM
  trap 'up_failed $?' EXIT
  echo "$n" >"$nodes_file"
  make_pki
  write_configs "$n"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  for i in $(seq 1 "$n"); do start_node "$i"; done
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
    --kubelet-preferred-address-types=InternalIP --feature-gates="$feature_gates" --v=1
  wait_until "kube-apiserver" 90 api_ready

  # The apiserver's kubelet client needs this binding, or exec and logs fail.
  kubectl_ create clusterrolebinding graceproof-apiserver-kubelet --clusterrole=system:kubelet-api-admin \
    --user=kube-apiserver-kubelet-client --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
  # kube-proxy's own config file, where kubeadm clusters (kind) keep theirs: each
  # result records kube-proxy's mode from it (graceproof.proxy_mode).
  kubectl_ -n kube-system create configmap kube-proxy --from-file=config.conf="$state/kube-proxy-config.yaml" \
    --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null

  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --service-cluster-ip-range="$service_cidr" --v=1
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$state/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --v=1
  for i in $(seq 1 "$n"); do start_kubelet "$i"; done
  start kube-proxy "$bin/kube-proxy" --config="$state/kube-proxy-config.yaml" --v=1

  for i in $(seq 1 "$n"); do
    wait_until "$(node_proc "$i" kubelet) (node $(node_name "$i") Ready)" "$up_timeout" node_ready "$(node_name "$i")"
  done
  wait_until "kube-controller-manager (default service account)" 60 default_sa
  trap - INT TERM EXIT
  gp_log "cluster of $n node(s) up in $((SECONDS - t0))s; kubeconfig: $kubeconfig"
  gp_log "try: $bin/kubectl --kubeconfig $kubeconfig get nodes"
}

down() {
  local t0=$SECONDS
  [[ -d $state ]] || { gp_log "nothing to take down ($state does not exist)"; return 0; }
  # Control plane and node agents first, so nothing restarts pods while they go.
  # Each group gets SIGTERM at once and 5 s in all, rather than 5 s a process.
  local n i nsock task kubelets=() containerds=()
  # Every node this state ever had (node-N folders), not only the last up's count.
  n=$(running_nodes)
  for i in $(seq 2 "$max_nodes"); do if [[ -d $(node_dir "$i") ]] && ((i > n)); then n=$i; fi; done
  for i in $(seq 1 "$n"); do
    kubelets+=("$(node_proc "$i" kubelet)") containerds+=("$(node_proc "$i" containerd)")
  done
  stop_pids kube-proxy "${kubelets[@]}"
  stop_pids kube-scheduler kube-controller-manager kube-apiserver
  stop_pids etcd
  # Pods: kill every process in the kubelets' pod cgroups (also after a crash,
  # when no pid file is left), then the shims of our containerds and containerd.
  for i in $(seq 1 "$n"); do kill_cgroup_tree "$(node_cgroup "$i")"; done
  for i in $(seq 1 "$n"); do
    nsock=$(node_sock "$i")
    if [[ -S $nsock ]] && alive "$(node_proc "$i" containerd)"; then
      for task in $(ctr --address "$nsock" -n k8s.io tasks ls -q 2>/dev/null); do
        ctr --address "$nsock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
      done
    fi
    pkill -KILL -f "containerd-shim-runc-v2 -namespace k8s.io .*-address $nsock" 2>/dev/null || true
  done
  stop_pids "${containerds[@]}"
  for i in $(seq 1 "$n"); do kill_cgroup_tree "$(node_cgroup "$i")"; done
  # Mounts under our state dir (overlay rootfs, shm, projected volumes), deepest first.
  awk -v s="$state/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # Network namespaces that containerd's CRI made (cni-*), our bridge, our chains.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  for i in $(seq 1 "$n"); do
    ip link delete "$(node_bridge "$i")" 2>/dev/null || true
    rm -rf "$(node_dir "$i")/cni/ipam"
  done
  flush_chains
  rm -rf "$state/etcd" "$nodes_file"
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
  # kube-proxy's own tables in nftables mode (KUBE_PROXY_MODE=nftables).
  if command -v nft >/dev/null; then
    nft delete table ip kube-proxy 2>/dev/null || true
    nft delete table ip6 kube-proxy 2>/dev/null || true
  fi
}

status() {
  local name i n rc=0
  n=$(running_nodes)
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy \
    $(for i in $(seq 1 "$n"); do node_proc "$i" containerd; node_proc "$i" kubelet; done); do
    if alive "$name"; then echo "$name running (pid $(cat "$pids/$name.pid"))"; else echo "$name stopped"; fi
  done
  for i in $(seq 1 "$n"); do
    if [[ -s $kubeconfig ]] && node_ready "$(node_name "$i")"; then
      echo "node $(node_name "$i") Ready"
    else
      echo "node $(node_name "$i") not ready"; rc=1
    fi
  done
  echo "kubeconfig $kubeconfig"
  return "$rc"
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  deps) deps ;;
  *) echo "usage: $0 up|down|status|deps" >&2; exit 2 ;;
esac
