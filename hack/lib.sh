# shellcheck shell=bash
# Shared helpers of the hack/ scripts. Sourced, never run.
# Everything built or downloaded lives outside the work tree, keyed by versions.
gp_cache_dir() { echo "${GRACEPROOF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/graceproof}"; }
gp_bin_dir() { echo "$(gp_cache_dir)/bin/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"; }
gp_log() { printf '[local-cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
gp_die() { gp_log "error: $*"; exit 1; }
