#!/usr/bin/env bash
# Make a kind base image (what `kind build node-image --base-image` starts from)
# without any registry, and print its tag on stdout:
#   hack/kind-base-image.sh        -> graceproof/kind-base:<KIND_VERSION>-<suffix>
# The suffix is a digest of this script, the pinned versions and the host facts it
# depends on, so any change makes a new tag; an existing tag is reused at once
# (`docker image inspect`). Needs a Docker daemon: DOCKER_HOST's, else that of
# hack/docker.sh (eval "$(hack/docker.sh up)").
#
# kind's own base image (images/base/Dockerfile of sigs.k8s.io/kind at
# KIND_VERSION, read from the Go module cache) is Debian with systemd and the
# packages a node needs, containerd, runc, crictl and four CNI plugins built from
# source, and kind's files (entrypoint, clean-install, containerd config, systemd
# units, sysctl.d). The same here, offline:
#   - the root file system: Debian's packages of kind's list through debootstrap
#     (gp_rootfs_tar of lib.sh, cached), imported with `docker import`. DEBIAN_SUITE
#     (bookworm) rather than kind's trixie: trixie's systemd 257 only boots on
#     cgroup v1 when forced, and 258 not at all; bookworm's 252 boots on the cgroup
#     v1 of these machines;
#   - containerd (+ ctr, containerd-shim-runc-v2), runc, crictl and the CNI plugins
#     host-local, loopback, ptp and portmap at the versions kind pins
#     (KIND_*_VERSION of versions.env), built from the Go module proxy into
#     versioned folders of the cache; containerd with kind's build tags, runc
#     static with seccomp (libseccomp-dev) like its release binaries;
#   - kind's files from the kind module, with the modes kind's Dockerfile gives them,
#     then its RUN steps (systemd units masked and enabled, ReadKMsg=no, /sbin/init,
#     /etc/kubernetes/manifests, cri-base.json from `ctr oci spec`), ENV container,
#     STOPSIGNAL SIGRTMIN+3 and its ENTRYPOINT, built by the classic builder
#     (DOCKER_BUILDKIT=0: no BuildKit image is needed).
# Left out: containerd-fuse-overlayfs (rootless Docker only; the unit stays, unused)
# and the last stage that squashes kind's image to one layer.
# One change to kind's files: where the bounding set lacks CAP_SYS_RESOURCE (these
# VMs), containerd's restrict_oom_score_adj is set to true, as kind's entrypoint does
# itself in a user namespace: containerd may then not lower a pod's oom_score_adj
# below its own, which without the capability makes runc fail every pod sandbox.
# Measured on a 2-core VM busy with a Kubernetes build, Go module cache without
# these modules: 6 min 40 s cold (Go builds 4 min 25 s: containerd 2 min 23 s, runc
# 38 s, crictl 1 min 13 s, CNI plugins 11 s; debootstrap 2 min, 182 MB tar; docker
# import 5 s; docker build 6 s); 6 s when only this script changed (new tag, cached
# parts); 0.4 s when the tag exists. The image is 304 MB.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

for v in KIND_VERSION KIND_CONTAINERD_VERSION KIND_RUNC_VERSION KIND_CRICTL_VERSION KIND_CNI_PLUGINS_VERSION; do
  [[ -n ${!v:-} ]] || gp_die "$v is not set in hack/versions.env: add it (see the kind lines there)"
done
cache=$(gp_cache_dir)
cni_plugins=(ipam/host-local main/loopback main/ptp meta/portmap)
# Debian's packages of kind's list (its clean-install line), plus socat, and dbus: kind's
# images have no D-Bus system bus, so their kubelets cannot start graceful node shutdown
# ("Failed to start node shutdown manager ... dial unix /var/run/dbus/system_bus_socket:
# connect: no such file or directory"); with dbus, logind runs (D-Bus activated) and the
# kubelet takes its inhibitor lock (graceproof.disruptions.node_shutdown).
packages=dbus,systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz
packages+=,fuse-overlayfs,nfs-common,open-iscsi,e2fsprogs,bash,ca-certificates,curl,jq,procps,socat

# ---- Docker ------------------------------------------------------------------------
command -v docker >/dev/null || gp_die "the docker CLI is missing: run hack/docker.sh up (it installs docker.io)"
if ! timeout 20 docker info >/dev/null 2>&1; then
  eval "$(bash "$here/docker.sh" env)"
  timeout 20 docker info >/dev/null 2>&1 \
    || gp_die "no Docker daemon answers: start one with eval \"\$(hack/docker.sh up)\", or set DOCKER_HOST to yours"
fi

# The capabilities the bounding set lacks change the image (see above): in the key.
oom_restricted=0
(($(awk '/^CapBnd:/{print "0x" $2}' /proc/self/status) >> 24 & 1)) || oom_restricted=1
key=$(cat "${BASH_SOURCE[0]}" <(echo "$KIND_VERSION $KIND_CONTAINERD_VERSION $KIND_RUNC_VERSION $KIND_CRICTL_VERSION" \
  "$KIND_CNI_PLUGINS_VERSION $DEBIAN_SUITE $packages $(uname -m) oom_restricted=$oom_restricted") | sha256sum | cut -c1-12)
tag=graceproof/kind-base:$KIND_VERSION-$DEBIAN_SUITE-$key
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
t0=$SECONDS
gp_log "making the kind base image $tag (cold: the Go builds, debootstrap and the image; then cached)"

# ---- build dependencies -------------------------------------------------------------
command -v go >/dev/null || gp_die "the Go toolchain is needed to build containerd, runc, crictl and the CNI plugins (go not on PATH)"
missing=()
for pair in debootstrap:debootstrap gcc:gcc pkg-config:pkg-config; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || gp_die "missing Debian packages ${missing[*]}: apt-get install ${missing[*]} (as root)"
  gp_log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export GOTOOLCHAIN=local
# go install pkg@version refuses -mod=mod, which a caller may have in GOFLAGS.
unset GOFLAGS

# go_install DIR CGO TAGS LDFLAGS PKG@VERSION...: the binaries into DIR (replaced as a
# whole, so a half-done build never looks done), at nice 10 beside other builds.
go_install() {
  local dir=$1 cgo=$2 tags=$3 ldflags=$4 tmp
  shift 4
  mkdir -p "$(dirname "$dir")"
  tmp=$(mktemp -d "$dir.XXXXXX")
  if ! GOBIN=$tmp CGO_ENABLED=$cgo nice -n 10 go install -trimpath -tags "$tags" -ldflags "$ldflags" "$@"; then
    rm -rf "$tmp"
    gp_die "go install $* failed (is the Go module proxy reachable? see the output above)"
  fi
  chmod 755 "$tmp"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

# containerd: kind builds ctr, containerd and containerd-shim-runc-v2 with the tags
# below (no_aufs is gone from 2.x); static, as containerd's static release.
containerd_dir=$cache/bin/containerd-$KIND_CONTAINERD_VERSION
if ! "$containerd_dir/containerd" --version 2>/dev/null | grep -qF " $KIND_CONTAINERD_VERSION"; then
  gp_log "building containerd $KIND_CONTAINERD_VERSION into $containerd_dir"
  p=github.com/containerd/containerd/v2
  go_install "$containerd_dir" 0 "no_btrfs no_zfs no_devmapper urfave_cli_no_docs" \
    "-s -w -X $p/version.Version=$KIND_CONTAINERD_VERSION -X $p/version.Package=$p" \
    "$p/cmd/containerd@$KIND_CONTAINERD_VERSION" "$p/cmd/ctr@$KIND_CONTAINERD_VERSION" \
    "$p/cmd/containerd-shim-runc-v2@$KIND_CONTAINERD_VERSION"
fi

# runc needs cgo (its nsenter is C) and libseccomp for seccomp profiles; linked
# statically like upstream's release binary, so it runs on any root file system.
runc_dir=$cache/bin/runc-$KIND_RUNC_VERSION
if ! "$runc_dir/runc" --version 2>/dev/null | grep -q "^runc version ${KIND_RUNC_VERSION#v}$"; then
  gp_log "building runc $KIND_RUNC_VERSION into $runc_dir"
  go_install "$runc_dir" 1 "seccomp urfave_cli_no_docs netgo osusergo" "-s -w -extldflags -static" \
    "github.com/opencontainers/runc@$KIND_RUNC_VERSION"
fi

crictl_dir=$cache/bin/crictl-$KIND_CRICTL_VERSION
if ! "$crictl_dir/crictl" --version 2>/dev/null | grep -q " $KIND_CRICTL_VERSION$"; then
  gp_log "building crictl $KIND_CRICTL_VERSION into $crictl_dir"
  go_install "$crictl_dir" 0 "" "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$KIND_CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$KIND_CRICTL_VERSION"
fi

cni_dir=$cache/bin/cni-plugins-$KIND_CNI_PLUGINS_VERSION
if ! CNI_COMMAND=VERSION "$cni_dir/portmap" </dev/null >/dev/null 2>&1; then
  gp_log "building the CNI plugins ${cni_plugins[*]} $KIND_CNI_PLUGINS_VERSION into $cni_dir"
  pkgs=()
  for c in "${cni_plugins[@]}"; do pkgs+=("github.com/containernetworking/plugins/plugins/$c@$KIND_CNI_PLUGINS_VERSION"); done
  go_install "$cni_dir" 0 "" \
    "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$KIND_CNI_PLUGINS_VERSION" "${pkgs[@]}"
fi

# ---- the root file system -------------------------------------------------------------
rootfs_tar=$(gp_rootfs_tar "$packages")
rootfs_key=$(cut -c1-12 <<<"$(echo "$DEBIAN_SUITE $packages" | sha256sum)")
rootfs_image=graceproof/kind-base-rootfs:$DEBIAN_SUITE-$rootfs_key
if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  gp_log "docker import $rootfs_tar as $rootfs_image"
  docker import "$rootfs_tar" "$rootfs_image" >/dev/null
fi

# ---- kind's files, the binaries, and the Dockerfile -------------------------------------
kind_src=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
files=$kind_src/images/base/files
[[ -f $files/usr/local/bin/entrypoint ]] \
  || gp_die "no images/base/files/usr/local/bin/entrypoint in the kind module ($kind_src): is KIND_VERSION=$KIND_VERSION a kind release?"
ctx=$(mktemp -d "$cache/images/kind-base-context.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
o=$ctx/overlay
# put MODE SRC... DESTDIR: copy into the overlay with kind's modes (its COPY --chmod).
put() {
  local mode=$1 dest=$o${*: -1}
  mkdir -p "$dest"
  install -m "$mode" "${@:2:$#-2}" "$dest/"
}
put 0755 "$files"/usr/local/bin/* /usr/local/bin
put 0644 "$files/kind/README.txt" /kind
put 0755 "$files"/kind/bin/* /kind/bin
put 0644 "$files"/LICENSES/* /LICENSES
put 0644 "$files/etc/crictl.yaml" /etc
put 0644 "$files"/etc/containerd/* /etc/containerd
put 0644 "$files"/etc/default/* /etc/default
put 0644 "$files"/etc/sysctl.d/* /etc/sysctl.d
put 0644 "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice /etc/systemd/system
put 0644 "$files"/etc/systemd/system/kubelet.service.d/* /etc/systemd/system/kubelet.service.d
put 0755 "$containerd_dir"/{containerd,ctr,containerd-shim-runc-v2} "$crictl_dir/crictl" /usr/local/bin
put 0755 "$runc_dir/runc" /usr/local/sbin
put 0755 "$cni_dir"/{host-local,loopback,ptp,portmap} /opt/cni/bin
if ((oom_restricted)); then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$o/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$o/etc/containerd/config.toml" \
    || gp_die "kind's containerd config has no 'restrict_oom_score_adj = false' to change: see $files/etc/containerd/config.toml"
fi

# kind's Dockerfile steps after its package installation (which debootstrap did).
cat >"$ctx/Dockerfile" <<'EOF'
ARG ROOTFS
FROM $ROOTFS
COPY overlay/ /
RUN chmod 755 /kind /kind/bin \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /usr/lib/systemd/systemd /sbin/init \
    && systemctl enable kubelet.service \
    && systemctl enable containerd.service \
    && systemctl enable undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests \
    && ctr oci spec \
        | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
        | jq 'del(.process.rlimits)' \
        > /etc/containerd/cri-base.json \
    && containerd --version && runc --version && crictl --version \
    && rm -rf /var/log/* /tmp/* /var/tmp/* /var/cache/debconf/*
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
EOF
gp_log "docker build $tag (classic builder) from $rootfs_image"
DOCKER_BUILDKIT=0 docker build --build-arg "ROOTFS=$rootfs_image" --label "graceproof.kind-version=$KIND_VERSION" \
  -t "$tag" "$ctx" >&2 || gp_die "docker build of $tag failed (see the output above)"
gp_log "kind base image $tag ready in $((SECONDS - t0))s"
echo "$tag"
