#!/usr/bin/env bash
# checkov over terraform/ (the version ./run pins, in its own virtual environment: it needs an older boto3).
# Writes build/ci/checkov.xml (JUnit) besides the console output; exits non-zero on any failed check.
source "$(dirname "$0")/common.sh"

version="$(sed -n 's/^CHECKOV_VERSION="\(.*\)"$/\1/p' "$CI_ROOT/run")"
[ -n "$version" ] || die "no CHECKOV_VERSION=\"...\" line in ./run"
checkov="${BATCHOPS_CHECKOV:-}"
if [ -z "$checkov" ]; then
  # Its own tool directory: ./run keeps .venv-checkov with a stamp format of its own.
  ensure_tool_venv "$CI_ROOT/build/ci-tools/checkov" "checkov==$version"
  checkov="$CI_ROOT/build/ci-tools/checkov/bin/checkov"
fi
mkdir -p "$CI_OUT"
say "checkov $version over $TF_ROOT"
"$checkov" -d "$TF_ROOT" --framework terraform --quiet --compact --skip-download \
  -o cli -o junitxml --output-file-path "console,$CI_OUT/checkov.xml"
