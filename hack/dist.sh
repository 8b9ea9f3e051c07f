#!/usr/bin/env bash
# Build graceproof's sdist and wheel into dist/ and check them as PyPI would
# (`twine check`): build and twine run from a venv in the cache, outside the clone,
# made once (pip from PyPI; about 20 s).
#   hack/dist.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/lib.sh"

venv=$(gp_cache_dir)/tools/dist-venv
if [[ ! -x $venv/bin/twine ]]; then
  gp_log "making $venv with build and twine (once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "build>=1.2" "twine>=6"
fi
rm -rf "$repo/dist"
"$venv/bin/python" -m build --outdir "$repo/dist" "$repo" >&2
"$venv/bin/twine" check --strict "$repo"/dist/*
