#!/usr/bin/env bash
# Static checks that need no cloud and no Terraform: ruff over the repository and every env file.
source "$(dirname "$0")/common.sh"

py="$(project_python)"
ruff="$(dirname "$py")/ruff"
if [ ! -x "$ruff" ]; then
  say "installing the pinned dev tools (ruff, pytest)"
  "$py" -m pip install --quiet -c "$CI_ROOT/constraints.txt" -e "${CI_ROOT}[dev]"
fi
say "ruff"
(cd "$CI_ROOT" && "$ruff" check .)
say "env files"
"$py" "$CI_ROOT/scripts/check_config.py"
