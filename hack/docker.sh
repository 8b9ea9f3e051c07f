#!/usr/bin/env bash
# A Docker engine for machines like graceproof's build VMs (no systemd, no Docker
# service, cgroups v1, a capability bounding set without CAP_SYS_RESOURCE): Debian's
# docker.io dockerd, started by hand, apart from anything else on the machine, for
# kind (hack/kind.sh, hack/kind-base-image.sh). On a machine with a Docker of its
# own, use that one instead: nothing here is needed.
#
#   hack/docker.sh up      install docker.io if dockerd is missing, start dockerd
#                          (idempotent); prints `export DOCKER_HOST=...` on stdout:
#                          eval "$(hack/docker.sh up)"
#   hack/docker.sh down    stop dockerd (its containers stop) and the containerd it
#                          started; images and containers stay in the data root
#   hack/docker.sh status  what runs (exit 1 when dockerd does not answer)
#   hack/docker.sh env     prints `export DOCKER_HOST=...` (nothing is started)
#   hack/docker.sh kind-nodes
#                          names of the running kind node containers of this dockerd,
#                          one a line (nothing when it is down); local-cluster.sh asks
#
# Where things live:
#   $(gp_cache_dir)/docker/data        --data-root: images and containers; with the
#                                      other cached builds outside the work tree, so
#                                      a new clone (CI) finds the images already made
#   $(gp_cache_dir)/docker/dockerd.log the daemon's log (also the containerd it starts)
#   $(gp_cache_dir)/docker/bin         the runtime wrapper (hack/runc_caps.py), copied
#                                      out of the clone, which CI deletes after a run
#   /run/graceproof-docker             --exec-root, --pidfile, the socket: runtime
#                                      state, on a short path (containerd's sockets
#                                      live below the exec root; a unix socket's path
#                                      is at most 107 bytes)
#
# Host networking: --iptables=false and --bridge=none leave the host's iptables alone
# (no FORWARD DROP policy, no DOCKER chains, no NAT) and make no docker0, so the local
# cluster's pods and kube-proxy rules are undisturbed; up turns IP forwarding off
# (the boot default here) rather than on. What kind needs still works: its
# user-defined bridge network joins the node containers at layer 2, published ports
# (kind's API server port, extraPortMappings on 127.0.0.1) are served by docker-proxy,
# and the embedded DNS (127.0.0.11) lives in each container's own network namespace.
# Containers cannot reach past this machine: no NAT, no forwarding.
#
# Measured on a 2-core VM (busy with builds): up 20 s cold (18 s of it apt-get
# update and install of docker.io), 1-2 s warm, 0.5 s when dockerd already runs;
# down 2 s with a kind node (systemd stops on SIGRTMIN+3 in 1.5 s), up to 15 s when
# a container ignores its stop signal (dockerd's 10 s stop timeout).
#
# kind and the local cluster both serve 127.0.0.1:30080-30089, so they never run
# at once: up refuses while the local cluster runs, and local-cluster.sh up refuses
# while kind nodes run here.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

state=$(gp_cache_dir)/docker
data=$state/data
log=$state/dockerd.log
wrapper=$state/bin/graceproof-runc
run=${GRACEPROOF_DOCKER_RUN_DIR:-/run/graceproof-docker}
exec_root=$run/exec
pidfile=$run/dockerd.pid
sock=$run/docker.sock
host=unix://$sock
up_timeout=${GRACEPROOF_DOCKER_UP_TIMEOUT:-60}

# The docker CLI on PATH (here a Docker 28 client; it negotiates the API version
# down to the 1.41 of the 20.10 daemon), pointed at this daemon only.
dk() { DOCKER_HOST=$host docker "$@"; }
# alive PID: it runs (a zombie, left unreaped by this VM's init, does not count).
alive() { [[ -r /proc/$1/stat && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
dockerd_pid() { [[ -s $pidfile ]] && alive "$(cat "$pidfile")" && cat "$pidfile"; }
answers() { timeout 10 env DOCKER_HOST="$host" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The capabilities Docker asks for with --privileged (all up to cap_last_cap) that
# the bounding set lacks, as a hex mask; 0 when none is missing.
missing_caps() {
  local last bnd
  last=$(cat /proc/sys/kernel/cap_last_cap)
  bnd=$(awk '/^CapBnd:/{print $2}' /proc/self/status)
  printf '%x\n' $(((1 << (last + 1)) - 1 & ~0x$bnd))
}

# Processes of a local cluster of hack/local-cluster.sh (any clone: they all run
# the binaries of this cache), as "pid N (command line)" lines.
local_cluster_procs() {
  local p exe bin
  bin=$(gp_bin_dir)
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case $exe in
      "$bin"/kube-apiserver | "$bin"/kube-proxy | "$bin"/kubelet)
        echo "pid ${p#/proc/} ($(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-160))"
        ;;
    esac
  done
}

install_docker() {
  command -v dockerd >/dev/null && return 0
  [[ $(id -u) == 0 ]] || gp_die "dockerd is missing and installing it needs root: run 'apt-get install docker.io' as root"
  command -v apt-get >/dev/null || gp_die "dockerd is missing and this is not a Debian-like system: install Docker (https://docs.docker.com/engine/install/)"
  gp_log "installing Debian's docker.io (dockerd, containerd, runc, docker-proxy)"
  # Without systemd, the package's scripts would start a system dockerd through its
  # init script (iptables on, /var/run/docker.sock): a policy-rc.d that denies
  # every start keeps them from doing so, as in Debian's own container images.
  local policy=/usr/sbin/policy-rc.d added=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# hack/docker.sh: no service starts while docker.io installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; } || rc=$?
  ((added == 0)) || rm -f "$policy"
  ((rc == 0)) || gp_die "apt-get install docker.io failed (exit $rc): see the output above"
  command -v dockerd >/dev/null || gp_die "docker.io is installed but dockerd is not on PATH (PATH=$PATH)"
}

# With forwarding off, the host routes nothing from a container to the outside
# (there is no NAT either), so pods and nodes reach only this machine, as the
# workplace's network rule asks; kind's nodes share a bridge and published ports go
# through docker-proxy, and each node forwards inside its own network namespace (the
# runtime wrapper turns it on there: hack/runc_caps.py says why). The local cluster turns it on at its up,
# and refuses to start while this dockerd runs; checked again on every up.
forwarding_off() {
  if [[ $(sysctl -n net.ipv4.ip_forward) != 0 || $(sysctl -n net.ipv6.conf.all.forwarding 2>/dev/null || echo 0) != 0 ]]; then
    gp_log "turning IP forwarding off (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding = 0)"
    sysctl -qw net.ipv4.ip_forward=0
    sysctl -qw net.ipv6.conf.all.forwarding=0 2>/dev/null || true
  fi
}

up() {
  local t0=$SECONDS t1 procs pid missing python runtime_args=() next=10
  procs=$(local_cluster_procs)
  [[ -z $procs ]] || gp_die "the local cluster runs (it serves 127.0.0.1:30080-30089, as kind would):" \
    "$(tr '\n' ';' <<<"$procs")" "take it down first: hack/local-cluster.sh down (in the clone that started it)"
  if pid=$(dockerd_pid) && answers; then
    forwarding_off
    gp_log "dockerd already runs (pid $pid, $host)"
    echo "export DOCKER_HOST=$host"
    return 0
  fi
  [[ $(id -u) == 0 ]] || gp_die "dockerd runs as root here: run hack/docker.sh up as root"
  install_docker
  command -v docker >/dev/null || gp_die "the docker CLI is missing: apt-get install docker.io (or put a docker client on PATH)"
  command -v runc >/dev/null || gp_die "runc is missing: apt-get install runc"
  [[ -z ${pid:-} ]] || gp_die "dockerd (pid $pid) runs but does not answer on $host: run hack/docker.sh down, then up (log: $log)"
  forwarding_off
  mkdir -p "$data" "$exec_root" "$(dirname "$wrapper")"
  [[ ! -S $sock ]] || rm -f "$sock" # left by a dockerd that was killed
  missing=$(missing_caps)
  if [[ $missing != 0 ]]; then
    # The system's python3 by its path: dockerd's PATH may lead to a user's python
    # (pyenv shims, a virtualenv) that is slower to start or gone later.
    python=/usr/bin/python3
    [[ -x $python ]] || python=$(command -v python3) \
      || gp_die "python3 is needed for the runtime wrapper (hack/runc_caps.py): apt-get install python3-minimal"
    { echo "#!$python"; tail -n +2 "$here/runc_caps.py"; } >"$wrapper.tmp"
    chmod 755 "$wrapper.tmp"
    mv "$wrapper.tmp" "$wrapper"
    runtime_args=(--add-runtime "graceproof-runc=$wrapper" --default-runtime graceproof-runc)
    gp_log "the bounding set lacks capabilities (mask 0x$missing): default runtime $wrapper (runc minus those)"
  fi
  gp_log "starting dockerd $(dockerd --version | sed 's/^Docker version //') (data $data, socket $sock, log $log)"
  # Its own session, so that it outlives the shell that ran up; it starts and stops
  # its own containerd (state below the exec root).
  t1=$SECONDS
  setsid dockerd --data-root "$data" --exec-root "$exec_root" --pidfile "$pidfile" -H "$host" \
    --iptables=false --ip-forward=false --bridge=none "${runtime_args[@]}" \
    >>"$log" 2>&1 </dev/null &
  until answers; do
    if ! kill -0 $! 2>/dev/null; then
      tail -n 20 "$log" >&2
      gp_die "dockerd exited at once: see $log (last lines above)"
    fi
    if ((SECONDS - t1 >= up_timeout)); then
      tail -n 20 "$log" >&2
      gp_die "dockerd did not answer on $host within ${up_timeout}s: see $log; hack/docker.sh down, then up again"
    fi
    if ((SECONDS - t1 >= next)); then gp_log "still waiting for dockerd ($((SECONDS - t1))s)"; next=$((next + 10)); fi
    sleep 0.2
  done
  gp_log "dockerd up in $((SECONDS - t0))s (pid $(cat "$pidfile")); use: export DOCKER_HOST=$host"
  echo "export DOCKER_HOST=$host"
}

# Processes of ours that may outlive a killed dockerd: its containerd and
# containerd's shims (our exec root, where containerd's config and socket are, is
# on their command line).
leftovers() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$exec_root/"* ]] && alive "${p#/proc/}" && echo "${p#/proc/}"
  done
  return 0
}

# The processes of our containers (and of what runs nested in them, as in kind's
# nodes): everything in their cgroups, /docker/<id> of each hierarchy.
container_procs() {
  local id
  for id in "$data"/containers/*/; do
    id=$(basename "$id")
    [[ $id != '*' ]] || continue
    find /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done | sort -un
}

# stop SECONDS PID...: SIGTERM, up to SECONDS for all to exit, then SIGKILL.
stop() {
  local secs=$1 pid left i
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  gp_log "still running after ${secs}s, killing: $*"
  kill -KILL "$@" 2>/dev/null || true
}

down() {
  local t0=$SECONDS pid pids i link m kv=$data/network/files/local-kv.db
  if pid=$(dockerd_pid); then
    gp_log "stopping dockerd (pid $pid; it stops its containers first)"
    # dockerd gives containers 15 s (--shutdown-timeout), then stops its containerd.
    stop 40 "$pid"
  fi
  # A dockerd that was killed leaves its containers running (and its containerd
  # and shims): kill the containers, as a power cut would (kind's nodes restart on
  # the next up), then the rest.
  for i in 1 2 3; do
    mapfile -t pids < <(container_procs)
    ((${#pids[@]})) || break
    ((i > 1)) || gp_log "killing the processes of containers that dockerd left: ${#pids[@]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.5
  done
  mapfile -t pids < <(leftovers)
  if ((${#pids[@]})); then
    gp_log "stopping what dockerd left: pids ${pids[*]}"
    stop 10 "${pids[@]}"
  fi
  # Mounts left below our folders (container root file systems, netns), deepest
  # first, and the data root's bind mount on itself (dockerd makes it private).
  awk -v e="$exec_root" -v d="$data" 'index($5, e "/") == 1 || index($5, d "/") == 1 || $5 == d || $5 == e {print $5}' \
    /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # The bridges of our networks (kind's): dockerd makes them again on the next up.
  # Ours are those whose network id is in our data root's network store.
  for link in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}'); do
    [[ $link =~ ^br-([0-9a-f]{12})$ && -f $kv ]] || continue
    if grep -qaF "${BASH_REMATCH[1]}" "$kv"; then ip link delete "$link" 2>/dev/null || true; fi
  done
  # The containers' cgroup folders (/docker/... in every hierarchy), when empty.
  for m in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
    if [[ -d $m ]]; then find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  rm -f "$pidfile" "$sock"
  mapfile -t pids < <(leftovers; container_procs)
  ((${#pids[@]} == 0)) || gp_die "still running after down: pids ${pids[*]} (ps -fp ${pids[*]})"
  gp_log "dockerd down in $((SECONDS - t0))s (images stay in $data)"
}

status() {
  local pid
  if pid=$(dockerd_pid) && answers; then
    echo "dockerd running (pid $pid, $(dk version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}'))"
    echo "DOCKER_HOST=$host"
    echo "default runtime $(dk info --format '{{.DefaultRuntime}}'), data root $data"
    echo "containers running: $(dk ps -q | wc -l), kind nodes: $(kind_nodes | wc -l), images: $(dk images -q | sort -u | wc -l)"
  else
    echo "dockerd stopped${pid:+ (pid $pid does not answer on $host)}"
    return 1
  fi
}

kind_nodes() {
  dockerd_pid >/dev/null || return 0
  answers || return 0
  dk ps --filter label=io.x-k8s.kind.cluster --format '{{.Names}}'
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export DOCKER_HOST=$host" ;;
  kind-nodes) kind_nodes ;;
  *)
    echo "usage: $0 up|down|status|env|kind-nodes" >&2
    exit 2
    ;;
esac
