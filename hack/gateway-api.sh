#!/usr/bin/env bash
# The standard-channel CRDs of Gateway API $GATEWAY_API_VERSION (versions.env) as one
# YAML file in the cache, made once from that release's published Go module, never
# kept in this repository; prints the file's path on stdout.
#   hack/gateway-api.sh
# The module's config/crd/standard/gateway*.yaml, joined as upstream's
# hack/build-install-yaml.sh joins them into the release's standard-install.yaml.
# Apply it with `kubectl apply --server-side -f FILE` (the HTTPRoute CRD is too large
# for client-side apply's annotation); the e2e proofs apply it themselves when missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

out=$(gp_cache_dir)/gateway-api/standard-install-$GATEWAY_API_VERSION.yaml
if [[ ! -s $out ]]; then
  command -v go >/dev/null || gp_die "the Go toolchain is needed to fetch Gateway API $GATEWAY_API_VERSION's CRDs (go not on PATH)"
  export GOTOOLCHAIN=local
  unset GOFLAGS
  # The release Traefik was built against, or its Gateway provider may read fields
  # these CRDs lack (or the reverse): checked here, where the module is at hand.
  gomod=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  wanted=$(sed -n 's/^[[:space:]]*sigs\.k8s\.io\/gateway-api \(v[^ ]*\).*/\1/p' "$gomod")
  [[ $wanted == "$GATEWAY_API_VERSION" ]] || gp_die "traefik $TRAEFIK_VERSION's go.mod requires sigs.k8s.io/gateway-api ${wanted:-(none)}, but versions.env pins GATEWAY_API_VERSION=$GATEWAY_API_VERSION: pin the one traefik requires"
  mod=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $mod/config/crd/standard ]] || gp_die "go mod download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION gave no config/crd/standard"
  mkdir -p "${out%/*}"
  partial=$out.$$.partial
  trap 'rm -f "$partial"' EXIT
  {
    echo "# Gateway API $GATEWAY_API_VERSION, standard channel: config/crd/standard of the Go module"
    echo "# sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION, joined by graceproof's hack/gateway-api.sh."
    for f in "$mod"/config/crd/standard/gateway*.yaml; do
      echo "---"
      echo "# ${f#"$mod"/}"
      cat "$f"
    done
  } >"$partial"
  # Each CRD says which release it comes from: a module of another version is refused.
  if grep -q 'gateway.networking.k8s.io/bundle-version:' "$partial" \
    && grep 'gateway.networking.k8s.io/bundle-version:' "$partial" | grep -qv "bundle-version: $GATEWAY_API_VERSION\$"; then
    rm -f "$partial"
    gp_die "the CRDs of sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION name another bundle-version"
  fi
  mv "$partial" "$out"
  gp_log "Gateway API $GATEWAY_API_VERSION CRDs (standard channel) ready in $out"
fi
echo "$out"
