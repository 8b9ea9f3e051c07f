#!/usr/bin/env bash
# Choose the cluster for `make e2e`/`make images`: prints `kind` or `local` on
# stdout and, on stderr, which one and why, so a run says what it proved on.
#   provider.sh auto|kind|local
# auto picks kind when the Docker engine of hack/docker.sh runs (this machine's kind:
# kind and its node image are built by hack/), or when a Docker daemon answers and kind
# is installed; otherwise the local cluster of hack/local-cluster.sh (host processes over
# containerd), which is what machines without a container registry can run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

requested=${1:-auto}
say() { printf 'graceproof: provider %s\n' "$*" >&2; }

case $requested in
  kind | local)
    say "$requested (PROVIDER=$requested was given)"
    echo "$requested"
    exit 0
    ;;
  auto) ;;
  *)
    printf 'graceproof: PROVIDER must be auto, kind or local, not %q\n' "$requested" >&2
    exit 2
    ;;
esac

if "$here/docker.sh" status >/dev/null 2>&1; then
  say "kind (PROVIDER=auto: the Docker engine of hack/docker.sh answers; kind and its node image are built by hack/)"
  echo kind
  exit 0
fi
if ! kind_path=$(command -v kind); then
  reason="kind is not on PATH"
elif ! command -v docker >/dev/null; then
  reason="docker is not on PATH"
# A daemon that is down answers at once; the timeout only guards a hung socket.
elif ! timeout 30 docker info >/dev/null 2>&1; then
  reason="'docker info' failed (no Docker daemon answers)"
else
  say "kind (PROVIDER=auto: 'docker info' works and kind is $kind_path)"
  echo kind
  exit 0
fi
say "local (PROVIDER=auto: $reason; using hack/local-cluster.sh)"
echo local
