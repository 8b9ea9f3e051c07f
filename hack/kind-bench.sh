#!/usr/bin/env bash
# Run a benchmark against a kind cluster made for it: kind-config.yaml's 3 nodes, the
# node image hack/kind-node-image.sh builds, the sample app's, the load's and Traefik's
# images loaded with `kind load image-archive` (the benchmarks' own loading goes
# through containerd and works only on hack/'s local cluster). The cluster's
# kubeconfig is a private file, in GRACEPROOF_BENCH_KUBECONFIG (the benchmarks' default
# --kubeconfig) for the command; the cluster is deleted at the end, also after a
# failure or Ctrl-C.
#   eval "$(hack/docker.sh up)"; hack/kind-bench.sh .venv/bin/python benchmarks/termination_order.py -n 5
# (`make bench-kind` runs the three of the README's side-by-side figures this way)
# Needs the Docker engine of hack/docker.sh (or DOCKER_HOST of another), and refuses a
# cluster of that name left by an earlier run rather than measuring on it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/lib.sh"

(($# > 0)) || gp_die "usage: hack/kind-bench.sh COMMAND [ARGS...] (run with GRACEPROOF_BENCH_KUBECONFIG set)"
name=${GRACEPROOF_BENCH_CLUSTER:-graceproof-bench}
[[ -n ${DOCKER_HOST:-} ]] || eval "$("$here/docker.sh" env)"
kind=$("$here/kind.sh")
node=${KIND_NODE_IMAGE:-$("$here/kind-node-image.sh")}
if "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
  gp_die "a kind cluster named $name exists already (left by another run?): delete it with: $kind delete cluster --name $name"
fi
state=$(mktemp -d)
kubeconfig=$state/kubeconfig
cleanup() {
  gp_log "deleting kind cluster $name"
  "$kind" delete cluster --name "$name" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
gp_log "creating kind cluster $name from $node"
"$kind" create cluster --name "$name" --image "$node" --config "$repo/kind-config.yaml" \
  --kubeconfig "$kubeconfig" --wait 120s
for archive in "$("$here/images.sh" --no-import)" "$("$here/images.sh" --no-import --print load)" \
  "$("$here/ingress.sh" --no-import)"; do
  gp_log "kind load image-archive $archive"
  "$kind" load image-archive "$archive" --name "$name"
done
GRACEPROOF_BENCH_KUBECONFIG=$kubeconfig "$@"
