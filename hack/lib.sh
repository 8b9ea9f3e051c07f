# shellcheck shell=bash
# Shared helpers of the hack/ scripts. Sourced, never run.
# Everything built or downloaded lives outside the work tree, keyed by versions.
# HOME may be unset (a CI runner's or a test's bare environment): the user's home then.
gp_cache_dir() { echo "${GRACEPROOF_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/graceproof}"; }
gp_bin_dir() { echo "$(gp_cache_dir)/bin/k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"; }
gp_log() { printf '[local-cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
gp_die() { gp_log "error: $*"; exit 1; }

# gp_rootfs_tar PKG[,PKG...]: a minbase Debian $DEBIAN_SUITE root file system with
# those packages, as a tar cached in the images folder (made once, about a minute);
# prints its path. Sets and clears an EXIT trap while debootstrap runs.
gp_rootfs_tar() {
  local pkgs=$1 dir tar log tmp
  dir=$(gp_cache_dir)/images
  tar=$dir/rootfs-$DEBIAN_SUITE-${pkgs//,/-}.tar
  log=$dir/debootstrap-${pkgs//,/-}.log
  if [[ ! -s $tar ]]; then
    command -v debootstrap >/dev/null || gp_die "debootstrap is missing: run 'hack/local-cluster.sh deps' (or apt-get install debootstrap)"
    gp_log "debootstrap $DEBIAN_SUITE with $pkgs (about a minute; cached in $tar)"
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/rootfs.XXXXXX")
    # shellcheck disable=SC2064 # tmp is expanded now, on purpose
    trap "rm -rf '$tmp'" EXIT
    debootstrap --variant=minbase --include="$pkgs" "$DEBIAN_SUITE" "$tmp/root" http://deb.debian.org/debian >"$log" 2>&1 \
      || gp_die "debootstrap failed, see $log"
    # Trim what a runtime image never needs; keeps the layer small (the
    # translations alone are 34 MB of bookworm's minbase).
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"* \
      "$tmp/root/usr/share/"{doc,man,info,locale}
    tar -C "$tmp/root" --numeric-owner -cf "$tar.partial" .
    mv "$tar.partial" "$tar"
    rm -rf "$tmp"
    trap - EXIT
  fi
  echo "$tar"
}

# gp_import_images ARCHIVE...: import docker-save archives into the containerd of
# every node of hack/local-cluster.sh, where the kubelets find them by tag.
# An archive already imported into a containerd is skipped (10 s of `make e2e`'s
# first verdict went to importing again what `up` had just imported): the stamp in
# that containerd's folder records the archive (path, size, mtime) and its tags, and
# it counts only while every tag is still in the containerd (the kubelet's image
# garbage collection may have removed one). The root stays across down and up, so
# the stamp does too.
gp_import_images() {
  local state sock a found=0 stamp id tags ref have
  state=${GRACEPROOF_LOCAL_CLUSTER_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.local-cluster}
  for sock in "$state/containerd/containerd.sock" "$state"/node-*/containerd/containerd.sock; do
    [[ -S $sock ]] || continue
    found=1
    mkdir -p "${sock%/*}/imported"
    have=$(ctr --address "$sock" -n k8s.io images ls -q)
    for a in "$@"; do
      stamp="${sock%/*}/imported/$(printf '%s' "$a" | sha256sum | cut -c1-16)"
      id="$a $(stat -c '%s %Y' "$a")"
      if [[ -s $stamp && $(head -n1 "$stamp") == "$id" ]]; then
        tags=$(tail -n +2 "$stamp")
        for ref in $tags; do grep -qxF "$ref" <<<"$have" || { tags=; break; }; done
        [[ -n $tags ]] && continue
      fi
      ctr --address "$sock" -n k8s.io images import "$a" >/dev/null
      { echo "$id"; gp_archive_tags "$a"; } >"$stamp.partial" && mv "$stamp.partial" "$stamp"
    done
  done
  ((found)) || gp_die "containerd of the local cluster is not running ($state/containerd/containerd.sock): run 'make local-cluster' first"
}

# gp_archive_tags ARCHIVE: the tags of a docker-save archive, one per line, as
# containerd names them (docker.io/library/ prefixed where the tag has no registry).
gp_archive_tags() {
  tar -xOf "$1" manifest.json | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    for t in m.get("RepoTags") or []:
        first = t.split("/")[0]
        if "/" not in t:
            t = "docker.io/library/" + t
        elif "." not in first and ":" not in first and first != "localhost":
            t = "docker.io/" + t
        print(t)
'
}
