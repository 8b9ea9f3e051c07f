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
# graceproof and kind are those the earlier steps put under $RUNNER_TEMP/graceproof
# (venv/bin/graceproof, bin/kind); kind's folder goes first on PATH for graceproof
# alone, so the caller's later steps see neither.
#
# Exit status: graceproof's own (0 proven, 1 not proven, 2 bad input); 2 also for
# an input this script rejects. Outputs, to $GITHUB_OUTPUT whatever the verdict:
# `report-dir` before the proof (a caller can upload the report of a failed one),
# then `verdict`, `failed`, `in-windows` and `bound` from graceproof's JSON
# (hack/action_outputs.py says what each holds; verdict=error when there is none).
# The verdict lines and the progress go to the log (stderr).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
argv=(prove)

output() {
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf '%s\n' "$@" >>"$GITHUB_OUTPUT"
  fi
}

die() {
  echo "graceproof action: $*" >&2
  output verdict=error failed= in-windows= bound=
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
add_one --expect-status "${INPUT_EXPECT_STATUS:-}"
add_one --users "${INPUT_USERS:-}"
add_one --timeout "${INPUT_TIMEOUT:-}"
add_one --connection "${INPUT_CONNECTION:-}"
add_one --ingress "${INPUT_INGRESS:-}"
add_one --load-from "${INPUT_LOAD_FROM:-}"
add_one --load-workers "${INPUT_LOAD_WORKERS:-}"
add_one --max-error-rate "${INPUT_MAX_ERROR_RATE:-}"
add_one --max-unavailable-s "${INPUT_MAX_UNAVAILABLE_S:-}"
add_one --max-p99-in-windows-s "${INPUT_MAX_P99_IN_WINDOWS_S:-}"
add_one --retryable-count "${INPUT_RETRYABLE_COUNT:-}"

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
argv+=(--report-dir "$report_dir" --output json)

home=${RUNNER_TEMP:-}/graceproof
graceproof=$home/venv/bin/graceproof
python=$home/venv/bin/python
if [[ -z ${RUNNER_TEMP:-} || ! -x $graceproof || ! -x $python ]]; then
  die "no graceproof at \$RUNNER_TEMP/graceproof/venv: action.yml's step 'Install" \
    "graceproof' puts it there, so run this script only as that action's Prove step"
fi

output "report-dir=$report_dir"

printf 'graceproof'
printf ' %q' "${argv[@]}"
printf '\n'
verdict=$(mktemp "$RUNNER_TEMP/graceproof-verdict.XXXXXX")
trap 'rm -f "$verdict"' EXIT
status=0
PATH="$home/bin:$PATH" "$graceproof" "${argv[@]}" >"$verdict" || status=$?

if ! outputs=$("$python" "$here/action_outputs.py" "$verdict" "$status"); then
  echo "graceproof action: hack/action_outputs.py failed; outputs say verdict=error" >&2
  outputs=$'verdict=error\nfailed=\nin-windows=\nbound='
fi
output "$outputs"
echo "graceproof action: outputs ${outputs//$'\n'/ }"
# No JSON on stdout: graceproof stopped before its verdict and report (2 on bad input,
# 1 on an error mid-run), so the job summary says so instead of staying silent.
if [[ ! -s $verdict && -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  {
    echo "## graceproof: no verdict"
    echo
    echo "\`graceproof prove\` exited $status before a verdict (2: bad input; 1: stopped" \
      "mid-run). The step's log says why."
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
