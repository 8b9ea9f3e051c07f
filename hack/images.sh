#!/usr/bin/env bash
# Make the images the local cluster needs without any registry, and import them
# into its containerd under the names the manifests use on kind:
#   - the pause image (sandbox), from the pause binary built by build.sh;
#   - the workload image: a Debian root file system with python3 (debootstrap,
#     cached per suite), the Python packages of workloads/app/requirements.txt
#     (cached per content) and workloads/app, run as `python3 /app/server.py`;
#   - the load image (LOAD_IMAGE, the Locust master and worker pods): the same root
#     file system and the Python packages of workloads/load/requirements.txt (Locust,
#     grpcio, websocket-client, sseclient-py and their dependencies; cached per
#     content), run as `python3 -m locust` in /locust, where graceproof mounts its
#     locustfiles.
#   hack/images.sh [--no-import] [--print workload|load]
#     --no-import  only write the archives (in the cache folder of hack/lib.sh); the
#                  cluster is not touched
#     --print      which archive's path goes to stdout: workload (the default, for
#                  --gp-image-archive) or load (hack/images.sh --print load)
# Prints exactly one line on stdout: that archive's path. Logs go to stderr.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/versions.env"
source "$here/lib.sh"

usage="usage: hack/images.sh [--no-import] [--print workload|load]"
import=1
print=workload
while (($#)); do
  case $1 in
    --no-import) import=0 ;;
    --print)
      [[ ${2:-} == workload || ${2:-} == load ]] || gp_die "$usage"
      print=$2
      shift
      ;;
    *) gp_die "$usage" ;;
  esac
  shift
done

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

# An image's Python packages, installed from the hash-pinned wheels for bookworm's
# python3 (3.11, on this machine's architecture, which is debootstrap's) into a folder
# that becomes one layer at /usr/local/lib/python3.11/dist-packages, on that python's
# sys.path. Cached under the sha256 of the requirements file and of wheels.sh (which
# holds the pip options): a changed pin rebuilds it (seconds), an unchanged one costs
# nothing. site_packages REQUIREMENTS prints the folder (it runs in a subshell, so its
# EXIT trap is its own).
arch=$(uname -m)
site_packages() {
  local requirements=$1 key dir tmp
  key=$(cat "$requirements" "$here/wheels.sh" | sha256sum | cut -c1-16)
  dir="$img_dir/site-packages-cp311-$arch-$key"
  if [[ ! -d "$dir" ]]; then
    gp_log "installing the wheels of $requirements for python 3.11 on $arch (cached in $dir)"
    tmp=$(mktemp -d "$img_dir/site-packages.XXXXXX")
    # shellcheck disable=SC2064 # tmp is expanded now, on purpose
    trap "rm -rf '$tmp'" EXIT
    bash "$here/wheels.sh" install "$tmp/dist-packages" 3.11 "$arch" "$requirements" >&2
    # Another run may have made the same folder meanwhile: then its copy is as good.
    mv -T "$tmp/dist-packages" "$dir" 2>/dev/null || [[ -d "$dir" ]] \
      || gp_die "could not move the installed packages to $dir"
    rm -rf "$tmp"
    trap - EXIT
  fi
  echo "$dir"
}
# The app's (grpcio, websockets) and the load pods' (locust, grpcio, websocket-client,
# sseclient-py).
site_dir=$(site_packages "$repo/workloads/app/requirements.txt")
load_site_dir=$(site_packages "$repo/workloads/load/requirements.txt")

bin_dir=$(gp_bin_dir)
[[ -x "$bin_dir/pause" ]] || gp_die "pause binary missing: run hack/build.sh"
pause_tar="$img_dir/pause.tar"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -p "$bin_dir/pause" "$stage/pause"
python3 "$here/image_archive.py" --tag "$PAUSE_IMAGE" --out "$pause_tar" \
  --layer-dir "$stage:/" --entrypoint '["/pause"]'

# The workload archive is rebuilt whenever a file of workloads/app changes (image_archive.py
# keys it on its inputs), so app changes always land.
workload_tar="$img_dir/workload.tar"
python3 "$here/image_archive.py" --tag "docker.io/$WORKLOAD_IMAGE" --out "$workload_tar" \
  --layer-tar "$rootfs_tar" --layer-dir "$site_dir:/usr/local/lib/python3.11/dist-packages" \
  --layer-dir "$repo/workloads/app:/app" \
  --cmd '["python3", "/app/server.py"]' --workdir /app \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env PYTHONUNBUFFERED=1

# The load image: no locustfile inside, graceproof mounts its own (a ConfigMap) at
# /locust, the working folder, where Locust looks for ./locustfile.py. The empty
# /locust layer makes that folder exist before anything is mounted on it.
load_tar="$img_dir/load.tar"
workdir=$(mktemp -d)
trap 'rm -rf "$stage" "$workdir"' EXIT
chmod 755 "$workdir"
python3 "$here/image_archive.py" --tag "docker.io/$LOAD_IMAGE" --out "$load_tar" \
  --layer-tar "$rootfs_tar" --layer-dir "$load_site_dir:/usr/local/lib/python3.11/dist-packages" \
  --layer-dir "$workdir:/locust" \
  --cmd '["python3", "-m", "locust"]' --workdir /locust \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env PYTHONUNBUFFERED=1

if ((import)); then
  gp_import_images "$pause_tar" "$workload_tar" "$load_tar"
  gp_log "$PAUSE_IMAGE, $WORKLOAD_IMAGE and $LOAD_IMAGE are in the local cluster's containerd (imported unless already there)"
fi
case $print in
  workload) echo "$workload_tar" ;;
  load) echo "$load_tar" ;;
esac
