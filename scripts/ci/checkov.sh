#!/usr/bin/env bash
# checkov over terraform/ (the version ./run pins, in its own virtual environment: it needs an older boto3).
# Writes build/ci/checkov.xml (JUnit) besides the console output; exits non-zero on any failed check.
source "$(dirname "$0")/common.sh"

version="$(sed -n 's/^CHECKOV_VERSION="\(.*\)"$/\1/p' "$CI_ROOT/run")"
[ -n "$version" ] || die "no CHECKOV_VERSION=\"...\" line in ./run"
checkov="${BATCHOPS_CHECKOV:-}"
if [ -z "$checkov" ]; then
  venv="$CI_ROOT/.venv-checkov"
  if [ "$(cat "$venv/.batchops-stamp" 2>/dev/null)" != "$version" ]; then
    say "installing checkov $version into $venv"
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "checkov==$version"
    echo "$version" > "$venv/.batchops-stamp"
  fi
  checkov="$venv/bin/checkov"
fi
mkdir -p "$CI_OUT"
say "checkov $version over $TF_ROOT"
"$checkov" -d "$TF_ROOT" --framework terraform --quiet --compact --skip-download \
  -o cli -o junitxml --output-file-path "console,$CI_OUT/checkov.xml"
