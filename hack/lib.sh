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
# that containerd's folder records the archive (path, size, mtime to the nanosecond,
# inode: every rewrite is a new file) and each tag with the digest it was imported
# as. It counts only while every tag still has that digest there: an image imported
# under the same tag by anything else (the plugin's --gp-image-archive, another
# checkout) or removed since is imported again. The root stays across down and up,
# so the stamps do too.
gp_import_images() {
  local state sock a found=0 stamp id
  state=${GRACEPROOF_LOCAL_CLUSTER_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.local-cluster}
  for sock in "$state/containerd/containerd.sock" "$state"/node-*/containerd/containerd.sock; do
    [[ -S $sock ]] || continue
    found=1
    mkdir -p "${sock%/*}/imported"
    for a in "$@"; do
      stamp="${sock%/*}/imported/$(printf '%s' "$a" | sha256sum | cut -c1-16)"
      id="$a $(stat -c '%s %.9Y %i' "$a")"
      if [[ -s $stamp && $(head -n1 "$stamp") == "$id" ]] \
        && ! grep -q ' -$' "$stamp" && [[ $(tail -n +2 "$stamp") == "$(gp_tag_digests "$sock" "$a")" ]]; then
        continue
      fi
      ctr --address "$sock" -n k8s.io images import "$a" >/dev/null
      { echo "$id"; gp_tag_digests "$sock" "$a"; } >"$stamp.$$" && mv "$stamp.$$" "$stamp"
    done
  done
  ((found)) || gp_die "containerd of the local cluster is not running ($state/containerd/containerd.sock): run 'make local-cluster' first"
}

# gp_tag_digests SOCKET ARCHIVE: "tag digest" of each tag of ARCHIVE as that containerd
# holds it now ("tag -" for a tag it lacks), one per line.
gp_tag_digests() {
  local listing tag digest
  listing=$(ctr --address "$1" -n k8s.io images ls)
  while read -r tag; do
    [[ -n $tag ]] || continue
    digest=$(awk -v t="$tag" '$1 == t { print $3 }' <<<"$listing")
    echo "$tag ${digest:--}"
  done < <(gp_archive_tags "$2")
}

# gp_archive_tags ARCHIVE: the tags of a docker-save archive, one per line, as
# containerd names them (docker.io/library/ prefixed where the tag has no registry).
gp_archive_tags() {
  tar -xOf "$1" manifest.json | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    for t in m.get("RepoTags") or []:
        if ":" not in t.rsplit("/", 1)[-1]:
            t += ":latest"
        first = t.split("/")[0]
        if "/" not in t:
            t = "docker.io/library/" + t
        elif "." not in first and ":" not in first and first != "localhost":
            t = "docker.io/" + t
        print(t)
'
}
