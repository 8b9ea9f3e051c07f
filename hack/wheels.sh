#!/usr/bin/env bash
# The Python packages of graceproof's images, pinned with hashes in a requirements FILE:
#   workloads/app/requirements.txt   the sample workload (the default FILE);
#   workloads/load/requirements.txt  the Locust load pods.
# Each FILE serves two images: Debian bookworm's python3 (3.11, hack/images.sh) and
# python:3.12-slim-bookworm (workloads/Dockerfile, workloads/load/Dockerfile), each on
# x86_64 and aarch64.
#   hack/wheels.sh pin [FILE]          for each NAME==VERSION line of FILE, download every
#                                      wheel those images may pick and rewrite the file
#                                      with one --hash per wheel, then `check` it
#   hack/wheels.sh check [FILE]        resolve FILE with --require-hashes for every image
#   hack/wheels.sh install DIR PY ARCH [FILE]
#                                      install FILE's wheels for python PY (3.11) on a
#                                      bookworm ARCH (x86_64) machine into DIR
# FILE defaults to workloads/app/requirements.txt. pip output goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/lib.sh"

requirements=$repo/workloads/app/requirements.txt
pythons=(3.11 3.12)
arches=(x86_64 aarch64)
# Bookworm's glibc is 2.36: pip there takes manylinux wheels up to manylinux_2_36.
glibc_minor=36

# The pip of the venv (`make venv`) when there is one, else the host's python3.
pip_python() {
  local py
  for py in "$repo/.venv/bin/python" python3; do
    if "$py" -m pip --version >/dev/null 2>&1; then
      echo "$py"
      return
    fi
  done
  gp_die "no pip found: run 'make venv' (or install python3-pip)"
}

# The pip target options of python PY on a bookworm ARCH machine, with the platform
# tags in the order that pip there prefers them (newest glibc first, as pip does).
target_opts() {
  local py=$1 arch=$2 m
  echo "--python-version=$py"
  echo "--implementation=cp"
  echo "--abi=cp${py/./}"
  for ((m = glibc_minor; m >= 5; m--)); do
    echo "--platform=manylinux_2_${m}_$arch"
    case $m.$arch in
      17.*) echo "--platform=manylinux2014_$arch" ;;
      12.x86_64) echo "--platform=manylinux2010_$arch" ;;
      5.x86_64) echo "--platform=manylinux1_$arch" ;;
    esac
  done
  echo "--platform=linux_$arch"
}

# NAME==VERSION lines of FILE (continuations and comments dropped).
pins_of() {
  sed -nE 's/^([A-Za-z0-9][A-Za-z0-9._-]*==[^[:space:]\\;]+).*/\1/p' "$1"
}

# PEP 503 name: lower case, runs of -_. as one -.
normalize() { sed -E 's/[-_.]+/-/g' <<<"${1,,}"; }

check() {
  local file=${1:-$requirements} py v arch tmp opts
  py=$(pip_python)
  tmp=$(mktemp -d)
  for v in "${pythons[@]}"; do
    for arch in "${arches[@]}"; do
      mapfile -t opts < <(target_opts "$v" "$arch")
      "$py" -m pip download -q --require-hashes --only-binary=:all: "${opts[@]}" -d "$tmp/$v-$arch" -r "$file" >&2 \
        || { rm -rf "$tmp"; gp_die "$file does not install with --require-hashes for python $v on $arch (see pip's message above)"; }
      gp_log "checked $file: python $v on $arch takes $(cd "$tmp/$v-$arch" && echo *.whl)"
    done
  done
  rm -rf "$tmp"
}

pin() {
  local file=${1:-$requirements} py v arch tmp opts pins p w b name names=() wheels body
  py=$(pip_python)
  mapfile -t pins < <(pins_of "$file")
  ((${#pins[@]})) || gp_die "no NAME==VERSION line in $file"
  grep -q '^[[:space:]]*$' "$file" || gp_die "$file has no blank line after its header: add one before the pins"
  for p in "${pins[@]}"; do names+=("$(normalize "${p%%==*}")"); done
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # tmp is expanded now, on purpose
  trap "rm -rf '$tmp'" EXIT
  # With dependencies: a dependency that is not pinned shows up as an extra wheel.
  for v in "${pythons[@]}"; do
    for arch in "${arches[@]}"; do
      gp_log "downloading the wheels of python $v on $arch"
      mapfile -t opts < <(target_opts "$v" "$arch")
      "$py" -m pip download -q --only-binary=:all: "${opts[@]}" -d "$tmp/wheels" "${pins[@]}" >&2 \
        || gp_die "pip download failed for python $v on $arch (see pip's message above)"
    done
  done
  # The pure-Python wheel, where one is published: what pip takes on any other machine.
  for p in "${pins[@]}"; do
    "$py" -m pip download -q --no-deps --only-binary=:all: --platform=any --python-version=3.11 \
      --implementation=py --abi=none -d "$tmp/wheels" "$p" >/dev/null 2>&1 || true
  done
  for w in "$tmp"/wheels/*.whl; do
    w=${w##*/}
    name=$(normalize "${w%%-*}")
    [[ " ${names[*]} " == *" $name "* ]] \
      || gp_die "$w is a dependency of the pins: add ${w%%-*}==$(cut -d- -f2 <<<"$w") to $file and run again"
  done
  body=$tmp/body
  for p in "${pins[@]}"; do
    name=$(normalize "${p%%==*}")
    wheels=()
    for w in "$tmp"/wheels/*.whl; do
      b=${w##*/}
      if [[ $(normalize "${b%%-*}") == "$name" && $(cut -d- -f2 <<<"$b") == "${p#*==}" ]]; then wheels+=("$w"); fi
    done
    ((${#wheels[@]})) || gp_die "no wheel of $p was downloaded"
    {
      for w in "${wheels[@]}"; do echo "# ${w##*/}"; done
      printf '%s' "$p"
      for w in "${wheels[@]}"; do printf ' \\\n    --hash=sha256:%s' "$(sha256sum "$w" | cut -d' ' -f1)"; done
      printf '\n'
    } >>"$body"
    gp_log "$p: ${#wheels[@]} wheel(s)"
  done
  # The header (everything up to the first blank line) is kept; the pins are rewritten.
  { sed '/^[[:space:]]*$/q' "$file"; cat "$body"; } >"$file.partial"
  mv "$file.partial" "$file"
  check "$file"
}

install() {
  local dir=${1:?DIR} v=${2:?PY} arch=${3:?ARCH} file=${4:-$requirements} py opts
  py=$(pip_python)
  mapfile -t opts < <(target_opts "$v" "$arch")
  # Without --no-deps: with --require-hashes, an unpinned dependency is an error here.
  # --no-compile: image_archive.py leaves __pycache__ out of a layer anyway.
  "$py" -m pip install -q --require-hashes --only-binary=:all: --no-compile "${opts[@]}" \
    --target "$dir" -r "$file" >&2 \
    || gp_die "pip install of $file for python $v on $arch failed (see pip's message above)"
  # Console scripts (websockets' CLI, locust, pytest): the images import the packages
  # and run `python3 -m locust`, never these (their shebangs name pip's python anyway).
  rm -rf "${dir:?}/bin"
}

cmd=${1:-}
shift || true
case $cmd in
  pin | check | install) "$cmd" "$@" ;;
  *) gp_die "usage: hack/wheels.sh pin [FILE] | check [FILE] | install DIR PY ARCH [FILE]" ;;
esac
