#!/usr/bin/env bash
# Install kind's release binary for this runner into DIR, checked against its sha256:
#   hack/install-kind.sh DIR
# The "Install kind" step of action.yml and of .github/workflows/e2e.yml, which both
# give the pins in their env (tests/unit/test_action.py keeps them equal to each other
# and KIND_VERSION to graceproof.providers.kind_release.KIND_RELEASE):
#   KIND_VERSION        the release, e.g. v0.33.0
#   KIND_SHA256_AMD64   sha256 of its kind-linux-amd64
#   KIND_SHA256_ARM64   sha256 of its kind-linux-arm64
# The binary is picked by RUNNER_ARCH (the runner's `runner.arch`: X64 or ARM64) on
# RUNNER_OS Linux; any other runner gets an error that says so. DIR is not put on PATH
# here: the caller decides who sees it.
set -euo pipefail

die() {
  echo "install-kind.sh: $*" >&2
  exit 1
}

(($# == 1)) || die "usage: hack/install-kind.sh DIR (the folder kind is installed into)"
dir=$1
[[ -n ${KIND_VERSION:-} ]] || die "the step's env must give KIND_VERSION, e.g. v0.33.0"

if [[ ${RUNNER_OS:-Linux} != Linux ]]; then
  die "kind clusters need a Linux runner with Docker, not ${RUNNER_OS}: use e.g. runs-on: ubuntu-24.04"
fi
case ${RUNNER_ARCH:-} in
  X64) arch=amd64 sha256=${KIND_SHA256_AMD64:-} ;;
  ARM64) arch=arm64 sha256=${KIND_SHA256_ARM64:-} ;;
  *) die "no kind binary is pinned for runner.arch '${RUNNER_ARCH:-}': use an X64 or ARM64 Linux runner" ;;
esac
[[ $sha256 =~ ^[0-9a-f]{64}$ ]] || die "the step's env must give KIND_SHA256_${arch^^} (64 hex digits), not '$sha256'"

# A fresh name per run: two uses of the action in one job must not share a half-written file.
tmp=$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kind.XXXXXX")
trap 'rm -f "$tmp"' EXIT
url="https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-linux-$arch"
curl -fsSLo "$tmp" "$url"
echo "$sha256  $tmp" | sha256sum --check --strict --quiet ||
  die "kind-linux-$arch of $KIND_VERSION does not match KIND_SHA256_${arch^^} ($url)"
mkdir -p "$dir"
install -m 0755 "$tmp" "$dir/kind"
echo "kind $KIND_VERSION (linux-$arch) in $dir/kind"
