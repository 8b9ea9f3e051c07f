#!/usr/bin/env bash
# The ingress controller's image without any registry: Traefik built from the Go
# module proxy (tools.sh traefik), alone in one layer (a static binary), under the
# official image's name, so the same manifests run on kind with the official
# release. Imports it into the local cluster's containerd (not with --no-import)
# and prints the archive's path on stdout.
#   hack/ingress.sh [--no-import]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

bin=$(bash "$here/tools.sh" traefik)
archive=$(gp_cache_dir)/images/traefik-$TRAEFIK_VERSION.tar
if [[ ! -s $archive || $bin -nt $archive ]]; then
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  cp "$bin" "$stage/traefik"
  python3 "$here/image_archive.py" --tag "docker.io/library/traefik:$TRAEFIK_VERSION" --out "$archive" \
    --layer-dir "$stage:/" --entrypoint '["/traefik"]'
fi
if [[ "${1:-}" != "--no-import" ]]; then
  gp_import_images "$archive"
  gp_log "imported traefik:$TRAEFIK_VERSION into the local cluster's containerd"
fi
echo "$archive"
