#!/usr/bin/env bash
# Make the image of the nginx example without any registry, the way hack/images.sh
# makes the workload image: a minbase Debian root file system with nginx-light
# (debootstrap, cached in the cache folder of hack/lib.sh) plus a layer with
# conf/nginx.conf, tagged EXAMPLE_NGINX_IMAGE of hack/versions.env. Then imports it
# into the local cluster's containerd (not with --no-import). Prints the archive's
# path on stdout. On kind, the Dockerfile next to this script makes the same image.
#   examples/nginx/image.sh [--no-import]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hack=$(cd "$here/../../hack" && pwd)
# shellcheck source=../../hack/versions.env
source "$hack/versions.env"
# shellcheck source=../../hack/lib.sh
source "$hack/lib.sh"

rootfs=$(gp_rootfs_tar nginx-light)
archive=$(gp_cache_dir)/images/example-nginx.tar
# Rebuilt whenever a file of conf/ changes (image_archive.py keys the archive on its
# inputs), so config changes always land.
python3 "$hack/image_archive.py" --tag "docker.io/$EXAMPLE_NGINX_IMAGE" --out "$archive" \
  --layer-tar "$rootfs" --layer-dir "$here/conf:/etc/nginx" \
  --cmd '["nginx", "-g", "daemon off;"]'

if [[ "${1:-}" != "--no-import" ]]; then
  gp_import_images "$archive"
  gp_log "imported $EXAMPLE_NGINX_IMAGE into the local cluster's containerd"
fi
echo "$archive"
