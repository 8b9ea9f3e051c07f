#!/usr/bin/env bash
# Build kind (sigs.k8s.io/kind at KIND_VERSION of versions.env) from the Go module
# proxy into a versioned folder of the cache outside the work tree, and print the
# binary's path on stdout. Reused when `kind version` already says KIND_VERSION.
#   hack/kind.sh
# kind's go.mod has no replace or exclude lines, so `go install pkg@version` builds
# it as released; static (CGO_ENABLED=0), -trimpath, like upstream's Makefile. The
# git commit that upstream stamps is not known from the proxy, so none is stamped
# (`kind version` prints "kind v0.33.0 go1.x linux/amd64").
# Measured on a 2-core VM busy with a Kubernetes build beside, at nice 10: 10 s
# cold (kind's dependencies not yet in the Go module cache; 6 s CPU), 10 MB binary;
# reused afterwards in 0.01 s.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

[[ -n ${KIND_VERSION:-} ]] || gp_die "KIND_VERSION is not set in hack/versions.env: add it (e.g. KIND_VERSION=v0.33.0)"
dir=$(gp_cache_dir)/bin/kind-$KIND_VERSION
bin=$dir/kind

if [[ -x $bin && "$("$bin" version 2>/dev/null)" == "kind $KIND_VERSION "* ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || gp_die "the Go toolchain is needed to build kind $KIND_VERSION (go not on PATH; install Go >= 1.22)"
gp_log "building kind $KIND_VERSION from the Go module proxy into $dir (once; about 10 s on 2 cores with a warm module cache)"
export CGO_ENABLED=0 GOTOOLCHAIN=local
# go install pkg@version refuses -mod=mod, which a caller may have in GOFLAGS.
unset GOFLAGS
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t0=$SECONDS
GOBIN=$tmp nice -n 10 go install -trimpath -ldflags "-buildid= -s -w" "sigs.k8s.io/kind@$KIND_VERSION" \
  || gp_die "go install sigs.k8s.io/kind@$KIND_VERSION failed (is the Go module proxy reachable? see the output above)"
mv "$tmp/kind" "$bin"
[[ "$("$bin" version)" == "kind $KIND_VERSION "* ]] \
  || gp_die "the built $bin says '$("$bin" version)', not kind $KIND_VERSION: remove $dir and run hack/kind.sh again"
gp_log "kind $KIND_VERSION ready in $((SECONDS - t0))s: $bin"
echo "$bin"
