#!/usr/bin/env bash
# The proof step of the composite action (action.yml at the top of the repository):
# runs `graceproof prove` on a kind cluster with the action's inputs as flags.
#
# The inputs arrive as INPUT_* environment variables, never interpolated into a
# script: an input is data, not code. Each value becomes one element of an argv
# array, spaces and quotes included. Newline-separated inputs (manifests, values,
# set, images) give one flag per non-empty line; blanks around a line are dropped.
# Empty optional inputs are left out, so the CLI's own defaults apply.
#
# Exit status: graceproof's own (0 proven, 1 not proven, 2 bad input); 2 also for
# an input this script rejects. The report folder is written to $GITHUB_OUTPUT as
# `report-dir` first, so a caller can upload it whatever the verdict.
set -euo pipefail

argv=(prove)

die() {
  echo "graceproof action: $*" >&2
  exit 2
}

trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf '%s' "$s"
}

# add_one FLAG VALUE: FLAG VALUE, unless VALUE is blank.
add_one() {
  local value
  value=$(trim "$2")
  if [[ -n $value ]]; then
    argv+=("$1" "$value")
  fi
}

# add_each FLAG VALUE: FLAG LINE for each non-blank line of VALUE.
add_each() {
  local line
  while IFS= read -r line; do
    add_one "$1" "$line"
  done <<<"$2"
}

sources=0
for input in "${INPUT_MANIFESTS:-}" "${INPUT_KUSTOMIZE:-}" "${INPUT_CHART:-}"; do
  [[ -z $(trim "$input") ]] || sources=$((sources + 1))
done
if ((sources != 1)); then
  die "give exactly one of the inputs manifests, kustomize and chart"
fi

add_each -f "${INPUT_MANIFESTS:-}"
add_one -k "${INPUT_KUSTOMIZE:-}"
add_one --chart "${INPUT_CHART:-}"
add_each --values "${INPUT_VALUES:-}"
add_each --set "${INPUT_SET:-}"
add_each --image "${INPUT_IMAGES:-}"
argv+=(--kind)
add_one --k8s-version "${INPUT_KUBERNETES_VERSION:-}"
add_one --disruption "${INPUT_DISRUPTION:-}"
add_one --target "${INPUT_TARGET:-}"
add_one --service "${INPUT_SERVICE:-}"
add_one --path "${INPUT_PATH:-}"

control=$(trim "${INPUT_CONTROL:-true}")
case ${control,,} in
  true | "") ;;
  false) argv+=(--no-control) ;;
  *) die "control must be true or false, not '$control'" ;;
esac

report_dir=$(trim "${INPUT_REPORT_DIR:-}")
if [[ -z $report_dir || $report_dir == *$'\n'* ]]; then
  die "report-dir must be one folder name, not '$report_dir'"
fi
argv+=(--report-dir "$report_dir")

if [[ -n ${GITHUB_OUTPUT:-} ]]; then
  echo "report-dir=$report_dir" >>"$GITHUB_OUTPUT"
fi

printf 'graceproof'
printf ' %q' "${argv[@]}"
printf '\n'
exec graceproof "${argv[@]}"
