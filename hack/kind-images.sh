#!/usr/bin/env bash
# The container images a kind node preloads, made without any registry, as docker-save
# archives (hack/image_archive.py) under exactly the tags that kind and kubeadm use.
# Why: no registry is reachable on the machines this serves, so `kind build
# node-image` cannot fetch them and kind cannot run there unless they are made from
# source. On users' machines none of this runs: kind pulls the pinned kindest/node
# image, which already holds the upstream images.
#   hack/kind-images.sh
# Prints the archives' paths on stdout, one a line; logs go to stderr. The archives
# live in a cache folder outside the work tree, keyed by the pins and by the recipe
# (this script and every file it packs), and are reused when present.
#
# The images and what goes into them (binaries in /usr/local/bin, as the upstream
# images have them; kubeadm's static pods run `etcd`, `kube-apiserver`, ... through
# PATH, its kube-proxy DaemonSet runs /usr/local/bin/kube-proxy):
#   - pause, one image under kubeadm's tag and kind's sandbox_image tag (PAUSE_IMAGE):
#     hack/pause, alone;
#   - etcd, CoreDNS (entrypoint /coredns), kube-apiserver, kube-controller-manager,
#     kube-scheduler, local-path-provisioner: static Go binaries on a small base layer
#     (passwd, group, nsswitch.conf, /tmp), as distroless/static is upstream;
#   - kube-proxy and kindnetd: a Debian minbase with iptables, nftables, conntrack and
#     iproute2, plus iptables-wrapper (hack/kind-images/iptables-wrapper: it follows the
#     backend the node's kubelet uses, as upstream's distroless-iptables base does);
#   - local-path-helper: that same Debian layer, for its sh, mkdir and rm (one layer on
#     the node for all three images).
# Sources: kube-* and kubeadm from build.sh; etcd at kubeadm's version, CoreDNS and
# local-path-provisioner from the Go module proxy. kind's kindnetd is not served by
# the proxy (nor is the kube-network-policies version it needs): kindnetd here is
# hack/kind-images/kindnetd, which does its CNI config, routes and masquerading but
# enforces no NetworkPolicy.
# Measured on a 2-core VM beside other Go builds, cold (empty Go build cache, nothing
# cached here; the Kubernetes binaries already built): 9 min 54 s wall, 336 s user
# CPU; of it etcd 1 min 51 s, CoreDNS 4 min 28 s, local-path-provisioner 2 min 24 s,
# debootstrap 65 s, the archives seconds each. Reused: 0.15 s. The ten archives are
# 782 MB; a node stores 595 MB, as images share their base layers.
set -euo pipefail
# Functions run in $(...) below stop at their first failure too.
shopt -s inherit_errexit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

[[ -n ${KIND_VERSION:-} ]] || gp_die "KIND_VERSION is not set in hack/versions.env"
command -v go >/dev/null || gp_die "the Go toolchain is needed (go not on PATH)"
(($# == 0)) || gp_die "usage: hack/kind-images.sh (no arguments)"

# The Kubernetes binaries, kubeadm and pause (a no-op when already built).
bash "$here/build.sh" >&2
bin_dir=$(gp_bin_dir)

# The pins must be what this kubeadm asks for, or the node would pull in vain.
want=$(printf '%s\n' "registry.k8s.io/"{kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy}":$KUBERNETES_VERSION" \
  "$KIND_ETCD_IMAGE" "$KIND_COREDNS_IMAGE" "$KIND_KUBEADM_PAUSE_IMAGE" | sort)
have=$("$bin_dir/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" | sort)
[[ $want == "$have" ]] || gp_die "kubeadm $KUBERNETES_VERSION lists other images than hack/versions.env pins: update the KIND_*_IMAGE pins to
$have"

etcd_version=v${KIND_ETCD_IMAGE##*:}
etcd_version=${etcd_version%-*}
coredns_version=${KIND_COREDNS_IMAGE##*:}
lpp_version=$KIND_LOCAL_PATH_PROVISIONER_VERSION

key=$(
  {
    printf '%s\n' "$KIND_VERSION" "$KUBERNETES_VERSION" "$DEBIAN_SUITE" "$PAUSE_IMAGE" "$KIND_ETCD_IMAGE" \
      "$KIND_COREDNS_IMAGE" "$KIND_KUBEADM_PAUSE_IMAGE" "$KIND_KINDNETD_IMAGE" \
      "$KIND_LOCAL_PATH_PROVISIONER_IMAGE" "$KIND_LOCAL_PATH_HELPER_IMAGE" "$lpp_version"
    cat "${BASH_SOURCE[0]}" "$here/image_archive.py" "$here/kind-images/iptables-wrapper" \
      "$here/kind-images/kindnetd/"* "$here/pause/"*
  } | sha256sum | cut -c1-16
)
out=$(gp_cache_dir)/images/kind-$KIND_VERSION-$KUBERNETES_VERSION-$key
mkdir -p "$out"

export CGO_ENABLED=0 GOTOOLCHAIN=local
# `go install pkg@version` refuses -mod=mod, which a caller may have in GOFLAGS.
unset GOFLAGS

# go_bin NAME VERSION: the path of a binary cached per version, built first when
# missing by build_NAME VERSION DIR, which writes DIR/NAME.
go_bin() {
  local name=$1 version=$2 dir tmp
  dir=$(gp_cache_dir)/bin/$name-$version
  if [[ ! -x $dir/$name ]]; then
    gp_log "building $name $version from the Go module proxy into $dir"
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/gobin.XXXXXX")
    # shellcheck disable=SC2064 # tmp is expanded now, on purpose
    trap "rm -rf '$tmp'" EXIT
    "build_$name" "$version" "$tmp" || gp_die "building $name $version failed (see above)"
    mv "$tmp/$name" "$dir/$name"
    rm -rf "$tmp"
    trap - EXIT
  fi
  echo "$dir/$name"
}
# etcd's server module holds `replace` lines, which `go install` refuses: built from
# a wrapper module that requires it, as build.sh does for ETCD_VERSION.
build_etcd() {
  printf 'module graceproof.local/etcdbuild\n\ngo 1.24\n' >"$2/go.mod"
  (cd "$2" && GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$1" \
    && GOFLAGS=-mod=mod nice go build -trimpath -ldflags "-s -w" -o etcd go.etcd.io/etcd/server/v3) >&2
}
# CoreDNS's go.mod has no replace or exclude lines: `go install` builds it as
# released (upstream's Makefile stamps a git commit, unknown from the proxy: none).
build_coredns() {
  GOBIN=$2 nice go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$1" >&2
}
# Stamped as its scripts/build does.
build_local-path-provisioner() {
  GOBIN=$2 nice go install -trimpath -ldflags "-s -w -X main.VERSION=$1" \
    "github.com/rancher/local-path-provisioner@$1" >&2
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"

# The base of the static binaries: what they may look up besides themselves.
base=$stage/base
mkdir -p "$base/etc" "$base/tmp"
chmod 1777 "$base/tmp"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$base/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$base/etc/group"
echo 'hosts: files dns' >"$base/etc/nsswitch.conf"

# bin_layer NAME FILE...: a folder of the stage holding those files, mode 755, for
# one --layer-dir FOLDER:DEST.
bin_layer() {
  local d=$stage/$1
  shift
  mkdir -p "$d"
  chmod 755 "$d"
  install -m 755 "$@" "$d/"
  echo "$d"
}

# debian_layer and wrapper_layer set debian_tar and wrapper, once.
debian_tar=
debian_layer() {
  if [[ -z $debian_tar ]]; then debian_tar=$(gp_rootfs_tar iptables,nftables,conntrack,iproute2); fi
}
wrapper=
wrapper_layer() {
  local t s
  [[ -z $wrapper ]] || return 0
  wrapper=$stage/iptables-wrapper
  mkdir -p "$wrapper/usr/sbin"
  chmod -R 755 "$wrapper"
  install -m 755 "$here/kind-images/iptables-wrapper" "$wrapper/usr/sbin/iptables-wrapper"
  for t in iptables ip6tables; do
    for s in "" -save -restore; do ln -s iptables-wrapper "$wrapper/usr/sbin/$t$s"; done
  done
}

names=(pause etcd coredns kube-apiserver kube-controller-manager kube-scheduler kube-proxy kindnetd
  local-path-provisioner local-path-helper)
missing() { [[ ! -s $out/$1.tar ]]; }
# image NAME ARGS...: NAME.tar in the cache folder, from image_archive.py ARGS.
image() {
  local name=$1
  shift
  gp_log "image $name"
  python3 "$here/image_archive.py" --out "$out/$name.tar" "$@"
}

# Every $(...) is assigned before use: a failure inside an argument would go unseen.
if missing pause; then
  layer=$(bin_layer pause "$bin_dir/pause")
  image pause --tag "$KIND_KUBEADM_PAUSE_IMAGE" --tag "$PAUSE_IMAGE" --layer-dir "$layer:/" --entrypoint '["/pause"]'
fi

if missing etcd; then
  if [[ $etcd_version == "$ETCD_VERSION" ]]; then
    etcd_bin=$bin_dir/etcd
  else
    etcd_bin=$(go_bin etcd "$etcd_version")
  fi
  layer=$(bin_layer etcd "$etcd_bin")
  image etcd --tag "$KIND_ETCD_IMAGE" --layer-dir "$base:/" --layer-dir "$layer:/usr/local/bin" \
    --cmd '["/usr/local/bin/etcd"]'
fi

# As upstream: /coredns, the entrypoint; kubeadm's Deployment gives only args. It runs
# as root here (upstream: nonroot with a file capability); kubeadm drops every
# capability but NET_BIND_SERVICE either way.
if missing coredns; then
  coredns_bin=$(go_bin coredns "$coredns_version")
  layer=$(bin_layer coredns "$coredns_bin")
  image coredns --tag "$KIND_COREDNS_IMAGE" --layer-dir "$base:/" --layer-dir "$layer:/" --entrypoint '["/coredns"]'
fi

for c in kube-apiserver kube-controller-manager kube-scheduler; do
  if missing "$c"; then
    layer=$(bin_layer "$c" "$bin_dir/$c")
    image "$c" --tag "registry.k8s.io/$c:$KUBERNETES_VERSION" --layer-dir "$base:/" \
      --layer-dir "$layer:/usr/local/bin" --cmd "[\"/usr/local/bin/$c\"]"
  fi
done

if missing kube-proxy; then
  debian_layer
  wrapper_layer
  layer=$(bin_layer kube-proxy "$bin_dir/kube-proxy")
  image kube-proxy --tag "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION" --layer-tar "$debian_tar" \
    --layer-dir "$wrapper:/" --layer-dir "$layer:/usr/local/bin" --cmd '["/usr/local/bin/kube-proxy"]'
fi

if missing kindnetd; then
  debian_layer
  wrapper_layer
  (cd "$here/kind-images/kindnetd" && nice go build -trimpath -ldflags "-s -w" -o "$stage/kindnetd" .)
  layer=$(bin_layer kindnetd-bin "$stage/kindnetd")
  # In /usr/bin: /bin is a symlink to it in Debian, and a layer's bin/ folder would
  # hide it. Upstream's CMD is /bin/kindnetd; kind's manifest gives no command.
  image kindnetd --tag "$KIND_KINDNETD_IMAGE" --layer-tar "$debian_tar" \
    --layer-dir "$wrapper:/" --layer-dir "$layer:/usr/bin" --cmd '["/bin/kindnetd"]'
fi

# kind's manifest runs `local-path-provisioner --debug start ...` through PATH.
if missing local-path-provisioner; then
  lpp_bin=$(go_bin local-path-provisioner "$lpp_version")
  layer=$(bin_layer local-path-provisioner "$lpp_bin")
  image local-path-provisioner --tag "$KIND_LOCAL_PATH_PROVISIONER_IMAGE" --layer-dir "$base:/" \
    --layer-dir "$layer:/usr/local/bin" --entrypoint '["/usr/local/bin/local-path-provisioner"]'
fi

# The provisioner runs `/bin/sh /script/setup` (or teardown) in it.
if missing local-path-helper; then
  debian_layer
  image local-path-helper --tag "$KIND_LOCAL_PATH_HELPER_IMAGE" --layer-tar "$debian_tar" --cmd '["/bin/sh"]'
fi

gp_log "kind images ready in $out"
for n in "${names[@]}"; do echo "$out/$n.tar"; done
