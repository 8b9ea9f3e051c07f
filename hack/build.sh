#!/usr/bin/env bash
# Build the Kubernetes server binaries and etcd from the Go module proxy into a
# cache outside the work tree (CI clones into a new folder each run, so only a
# cache outside it is ever reused). Reused when already built for the versions
# pinned in versions.env.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

bin_dir=$(gp_bin_dir)
mkdir -p "$bin_dir"
k8s_minor=${KUBERNETES_VERSION#v}
staging_version="v0.${k8s_minor#*.}"

# kubeadm is for kind's node image (hack/kind-images.sh asks it which images a node
# preloads); the local cluster does not use it. Built alone after the others (warm Go
# build cache): 29 s.
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)

# Only the missing ones are built: adding a binary to the list costs that binary.
missing=()
for b in "${k8s_bins[@]}"; do [[ -x "$bin_dir/$b" ]] || missing+=("$b"); done

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

if ((${#missing[@]})); then
  gp_log "building Kubernetes $KUBERNETES_VERSION: ${missing[*]} (cold: tens of minutes on 2 cores)"
  mod=$(gp_cache_dir)/build/kubernetes-$KUBERNETES_VERSION
  mkdir -p "$mod"
  # k8s.io/kubernetes maps its staging modules to ./staging at v0.0.0; a
  # consumer module must point each one at its published version.
  staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
    mount-utils pod-security-admission sample-apiserver sample-cli-plugin
    sample-controller)
  {
    echo "module graceproof.local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    for s in "${staging[@]}"; do echo "replace k8s.io/$s => k8s.io/$s $staging_version"; done
  } >"$mod/go.mod"
  pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$KUBERNETES_VERSION"); done
  (cd "$mod" && go get "${pkgs[@]}")
  major=${k8s_minor%%.*}
  minor=${k8s_minor#*.}; minor=${minor%%.*}
  ldflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for b in "${missing[@]}"; do
    gp_log "go build $b"
    (cd "$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin_dir/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$bin_dir/$b.tmp" "$bin_dir/$b"
  done
fi

if [[ ! -x "$bin_dir/etcd" ]]; then
  gp_log "building etcd $ETCD_VERSION"
  mod=$(gp_cache_dir)/build/etcd-$ETCD_VERSION
  mkdir -p "$mod"
  printf 'module graceproof.local/etcdbuild\n\ngo 1.24\n' >"$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin_dir/etcd.tmp" "$bin_dir/etcd"
fi

# Rebuilt when hack/pause changes (its digest beside the binary): the images that
# carry it are keyed by that source, not by the binary.
pause_src=$(cat "$here/pause/go.mod" "$here/pause/main.go" | sha256sum | cut -c1-16)
if [[ ! -x "$bin_dir/pause" || "$(cat "$bin_dir/pause.src" 2>/dev/null)" != "$pause_src" ]]; then
  gp_log "building pause"
  (cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/pause" .)
  echo "$pause_src" >"$bin_dir/pause.src"
fi
gp_log "binaries ready in $bin_dir"
