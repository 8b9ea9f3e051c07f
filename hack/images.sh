#!/usr/bin/env bash
# Make the images the local cluster needs without any registry, and import them
# into its containerd under the names the manifests use on kind:
#   - the pause image (sandbox), from the pause binary built by build.sh;
#   - the workload image: a Debian root file system with python3 (debootstrap,
#     cached per suite), the Python packages of workloads/app/requirements.txt
#     (cached per content) and workloads/app, run as `python3 /app/server.py`.
# Prints the path of the workload image archive on stdout (for --gp-image-archive).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/versions.env"
source "$here/lib.sh"

cache=$(gp_cache_dir)
img_dir="$cache/images"
mkdir -p "$img_dir"

rootfs_tar="$img_dir/rootfs-$DEBIAN_SUITE-python3.tar"
if [[ ! -s "$rootfs_tar" ]]; then
  command -v debootstrap >/dev/null || gp_die "debootstrap is missing: run 'hack/local-cluster.sh deps' (or apt-get install debootstrap)"
  gp_log "debootstrap $DEBIAN_SUITE with python3 (about a minute; cached in $rootfs_tar)"
  tmp=$(mktemp -d "$img_dir/rootfs.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase --include=python3 "$DEBIAN_SUITE" "$tmp/root" http://deb.debian.org/debian >"$img_dir/debootstrap.log" 2>&1 \
    || gp_die "debootstrap failed, see $img_dir/debootstrap.log"
  # Trim what a runtime image never needs; keeps the layer small.
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"* "$tmp/root/usr/share/doc" "$tmp/root/usr/share/man"
  tar -C "$tmp/root" --numeric-owner -cf "$rootfs_tar.partial" .
  mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf "$tmp"; trap - EXIT
fi

# The app's Python packages (grpcio, websockets), installed from the hash-pinned
# wheels for bookworm's python3 (3.11, on this machine's architecture, which is
# debootstrap's) into a folder that becomes one layer at
# /usr/local/lib/python3.11/dist-packages, on that python's sys.path. Cached under the
# sha256 of requirements.txt and of wheels.sh (which holds the pip options): a changed
# pin rebuilds it (a few seconds), an unchanged one costs nothing.
requirements=$repo/workloads/app/requirements.txt
arch=$(uname -m)
site_key=$(cat "$requirements" "$here/wheels.sh" | sha256sum | cut -c1-16)
site_dir="$img_dir/site-packages-cp311-$arch-$site_key"
if [[ ! -d "$site_dir" ]]; then
  gp_log "installing the wheels of $requirements for python 3.11 on $arch (cached in $site_dir)"
  site_tmp=$(mktemp -d "$img_dir/site-packages.XXXXXX")
  trap 'rm -rf "$site_tmp"' EXIT
  bash "$here/wheels.sh" install "$site_tmp/dist-packages" 3.11 "$arch" "$requirements"
  # Another run may have made the same folder meanwhile: then its copy is as good.
  mv -T "$site_tmp/dist-packages" "$site_dir" 2>/dev/null || [[ -d "$site_dir" ]] \
    || gp_die "could not move the installed packages to $site_dir"
  rm -rf "$site_tmp"; trap - EXIT
fi

bin_dir=$(gp_bin_dir)
[[ -x "$bin_dir/pause" ]] || gp_die "pause binary missing: run hack/build.sh"
pause_tar="$img_dir/pause.tar"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin_dir/pause" "$stage/pause"
python3 "$here/image_archive.py" --tag "$PAUSE_IMAGE" --out "$pause_tar" \
  --layer-dir "$stage:/" --entrypoint '["/pause"]'

# The workload layers are rebuilt every time (cheap) so app changes always land.
workload_tar="$img_dir/workload.tar"
python3 "$here/image_archive.py" --tag "docker.io/$WORKLOAD_IMAGE" --out "$workload_tar" \
  --layer-tar "$rootfs_tar" --layer-dir "$site_dir:/usr/local/lib/python3.11/dist-packages" \
  --layer-dir "$repo/workloads/app:/app" \
  --cmd '["python3", "/app/server.py"]' --workdir /app \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env PYTHONUNBUFFERED=1

if [[ "${1:-}" != "--no-import" ]]; then
  gp_import_images "$pause_tar" "$workload_tar"
  gp_log "imported $PAUSE_IMAGE and $WORKLOAD_IMAGE into the local cluster's containerd"
fi
echo "$workload_tar"
