#!/usr/bin/env bash
# A kind node image of KUBERNETES_VERSION built on this machine, without any registry,
# by kind's own `kind build node-image` (unmodified); prints its tag on stdout.
#   hack/kind-node-image.sh
# Needs the Docker engine of hack/docker.sh (DOCKER_HOST is taken from it when unset).
#
# Why: no registry is reachable here, so neither the pinned kindest/node images nor
# anything a node preloads can be pulled. On a machine with a registry none of this
# runs: graceproof creates kind clusters from the kindest/node digests it pins.
#
# What goes in, all made here and cached outside the work tree:
#   the base image          hack/kind-base-image.sh (Debian packages, kind's own files)
#   kubeadm kubelet kubectl hack/build.sh (the Kubernetes built from the Go module proxy)
#   every preloaded image   hack/kind-images.sh (docker-save archives)
# kind's file build type takes a kubernetes-server-linux-ARCH.tar.gz: the binaries and
# four image archives (kube-apiserver, -controller-manager, -scheduler, -proxy.tar),
# which it imports into the node's containerd. Every other image it needs (etcd,
# CoreDNS, pause, kindnetd, the storage provisioner and helper) it would fetch with
# `ctr content fetch` in its build container, which fails offline; but it fetches
# only the images whose tags those four archives lack. So the tarball's
# kube-apiserver.tar carries the others too (hack/image_archive.py merge: one archive
# of several images, its `repositories` entry first, where kind reads the tags), and
# kind's build then imports everything and fetches nothing.
#
# The tag is keyed by what the inputs are (see below), so a change to any of them
# builds a new image; an image already built is reused at once.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

if [[ -z ${DOCKER_HOST:-} ]]; then
  eval "$("$here/docker.sh" env)"
fi
export DOCKER_HOST
timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || gp_die "no Docker engine answers at $DOCKER_HOST: start one with 'hack/docker.sh up'"

[[ $(uname -m) == x86_64 ]] || gp_die "hack/kind-node-image.sh builds amd64 node images only, and this machine is $(uname -m)"

# The inputs first (each cached, together well under a second when built), then the
# tag from what they made: the base image's tag, the archives' paths (each carries the
# key of its own inputs), the binaries' digests, kind's version and this recipe.
"$here/build.sh"
kind=$("$here/kind.sh")
base=$("$here/kind-base-image.sh")
mapfile -t archives < <("$here/kind-images.sh")
((${#archives[@]})) || gp_die "hack/kind-images.sh printed no archive"
bin=$(gp_bin_dir)
for b in kubeadm kubelet kubectl; do
  [[ -x $bin/$b ]] || gp_die "$bin/$b is missing after hack/build.sh: remove $bin and build again"
done
key=$({
  echo "$base" "$("$kind" version)" "$KUBERNETES_VERSION"
  printf '%s\n' "${archives[@]}"
  sha256sum "$bin/kubeadm" "$bin/kubelet" "$bin/kubectl" "$0" "$here/image_archive.py" | cut -d' ' -f1
} | sha256sum | cut -c1-12)
tag=graceproof/kind-node:$KUBERNETES_VERSION-$key
if docker image inspect "$tag" >/dev/null 2>&1; then
  gp_log "kind node image $tag is built already"
  echo "$tag"
  exit 0
fi

t0=$SECONDS
gp_log "building the kind node image $tag"
work=$(mktemp -d "$(gp_cache_dir)/kind-node.XXXXXX")
trap 'rm -rf "$work"' EXIT
server=$work/kubernetes/server/bin
mkdir -p "$server"
echo "$KUBERNETES_VERSION" >"$work/kubernetes/version"
cp "$bin/kubeadm" "$bin/kubelet" "$bin/kubectl" "$server/"

# Sort the archives: the four components by their tag; every other image rides along
# in kube-apiserver.tar.
extras=()
for a in "${archives[@]}"; do
  tags=$(python3 -c 'import json, sys, tarfile
print(" ".join(t for e in json.load(tarfile.open(sys.argv[1]).extractfile("manifest.json")) for t in e["RepoTags"]))' "$a")
  case $tags in
    registry.k8s.io/kube-apiserver:*) apiserver=$a ;;
    registry.k8s.io/kube-controller-manager:*) cp "$a" "$server/kube-controller-manager.tar" ;;
    registry.k8s.io/kube-scheduler:*) cp "$a" "$server/kube-scheduler.tar" ;;
    registry.k8s.io/kube-proxy:*) cp "$a" "$server/kube-proxy.tar" ;;
    *) extras+=("$a") ;;
  esac
done
for f in kube-controller-manager kube-scheduler kube-proxy; do
  [[ -s $server/$f.tar ]] || gp_die "hack/kind-images.sh made no registry.k8s.io/$f image"
done
[[ -n ${apiserver:-} ]] || gp_die "hack/kind-images.sh made no registry.k8s.io/kube-apiserver image"
python3 "$here/image_archive.py" merge --out "$server/kube-apiserver.tar" "$apiserver" "${extras[@]}"
tarball=$work/kubernetes-server-linux-amd64.tar.gz
tar -C "$work" -czf "$tarball" kubernetes

gp_log "kind build node-image from $base ($("$kind" version))"
"$kind" build node-image --type file "$tarball" --base-image "$base" --image "$tag" --arch amd64 >&2 \
  || gp_die "kind build node-image failed (its output is above)"
gp_log "kind node image $tag built in $((SECONDS - t0))s"
echo "$tag"
