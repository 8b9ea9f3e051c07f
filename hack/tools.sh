#!/usr/bin/env bash
# Build the command-line tools graceproof drives (not the cluster's own binaries:
# those are build.sh's) from the Go module proxy into a versioned folder of the
# cache outside the work tree, and print the binary's path on stdout. Reused when
# already built for the version pinned in versions.env.
#   tools.sh [helm|traefik]
# helm renders and lints the charts that users bring; traefik is the ingress
# controller of the ingress proofs (packaged as an image by hack/ingress.sh). Kustomize needs nothing:
# graceproof uses `kubectl kustomize`, built into the kubectl of build.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
source "$here/lib.sh"

# helm v3.22.0, cold (empty Go module and build caches), 2 cores, at nice 19 beside
# a running cluster: 1 min 49 s (137 s CPU); it downloads 413 MB of modules and
# writes 716 MB of build cache; the binary is 59 MB. Reused afterwards: 0.04 s.
build_helm() {
  local dir bin mod_file k8s tmp ldflags
  dir=$(gp_cache_dir)/bin/helm-$HELM_VERSION
  bin=$dir/helm
  if [[ -x $bin && "$("$bin" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
    echo "$bin"
    return 0
  fi
  command -v go >/dev/null || gp_die "the Go toolchain is needed to build helm $HELM_VERSION (go not on PATH)"
  gp_log "building helm $HELM_VERSION into $dir"
  export CGO_ENABLED=0 GOTOOLCHAIN=local
  # go install pkg@version builds with helm's own go.mod (it has no replace or
  # exclude lines) and refuses -mod=mod, which a caller may have in GOFLAGS.
  unset GOFLAGS
  mod_file=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -s $mod_file ]] || gp_die "go mod download helm.sh/helm/v3@$HELM_VERSION gave no go.mod"
  # As upstream's Makefile: the version of a tagged build, and the Kubernetes version
  # that `helm template` and `helm lint` assume without a cluster, from the
  # client-go it is built with (v0.N.x is Kubernetes 1.N); unstamped it is v1.20.
  k8s=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$mod_file")
  [[ -n $k8s ]] || gp_die "no k8s.io/client-go requirement in $mod_file"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s"
  done
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/gobin.XXXXXX")
  GOBIN=$tmp go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    || { rm -rf "$tmp"; gp_die "go install helm $HELM_VERSION failed"; }
  mv "$tmp/helm" "$bin"
  rmdir "$tmp"
  gp_log "helm $HELM_VERSION ready"
  echo "$bin"
}

# traefik: its go.mod has replace lines, which `go install pkg@version` refuses, so
# the module's source is built as the main module (a copy: the module cache is
# read-only), static (CGO_ENABLED=0) like the release binaries, with the version
# stamped as upstream's Makefile does. v3.7 cannot be built from the module proxy
# (a nested module and some lego DNS providers' modules are not served); v3.6 can.
build_traefik() {
  local dir bin src tmp ldflags
  dir=$(gp_cache_dir)/bin/traefik-$TRAEFIK_VERSION
  bin=$dir/traefik
  if [[ -x $bin ]] && "$bin" version 2>/dev/null | grep -q "Version: *${TRAEFIK_VERSION#v}$"; then
    echo "$bin"
    return 0
  fi
  command -v go >/dev/null || gp_die "the Go toolchain is needed to build traefik $TRAEFIK_VERSION (go not on PATH)"
  gp_log "building traefik $TRAEFIK_VERSION into $dir (a few minutes, once)"
  export CGO_ENABLED=0 GOTOOLCHAIN=local
  unset GOFLAGS
  src=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || gp_die "go mod download github.com/traefik/traefik/v3@$TRAEFIK_VERSION gave no source"
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/src.XXXXXX")
  cp -r "$src/." "$tmp/" && chmod -R u+w "$tmp"
  ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION#v}"
  (cd "$tmp" && go build -trimpath -ldflags "$ldflags" -o "$dir/traefik.partial" ./cmd/traefik) \
    || { rm -rf "$tmp"; gp_die "go build traefik $TRAEFIK_VERSION failed"; }
  rm -rf "$tmp"
  mv "$dir/traefik.partial" "$bin"
  gp_log "traefik $TRAEFIK_VERSION ready"
  echo "$bin"
}

case ${1:-helm} in
  helm) build_helm ;;
  traefik) build_traefik ;;
  *)
    printf 'tools.sh: unknown tool %q (known: helm, traefik)\n' "$1" >&2
    exit 2
    ;;
esac
