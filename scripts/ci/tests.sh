#!/usr/bin/env bash
# The project's whole test command (`./run tests`: ruff, terraform fmt, pytest incl. Terraform and checkov
# tests), with the pinned Terraform installed first when the image has none. Extra arguments go to pytest.
# The Terraform adapter finds a provider mirror itself (TF_PLUGIN_MIRROR, see docs/infrastructure.md).
source "$(dirname "$0")/common.sh"

UV_VERSION="0.13.8"
RUNTIME_PYTHON="3.9"  # the processing and XGBoost images' Python (batchops_local/runner/runtimes.py)

# The runner executes step scripts under their container image's Python; under CI=true a missing interpreter
# fails the run. The job's image has only its own Python, so a pinned uv installs the image runtimes' one.
ensure_runtime_python() {
  if [ -n "${BATCHOPS_PYTHON_3_9:-}" ] || command -v "python$RUNTIME_PYTHON" >/dev/null 2>&1; then
    return 0
  fi
  python3 -m pip install --quiet "uv==$UV_VERSION" || die "could not install uv $UV_VERSION"
  python3 -m uv python install "$RUNTIME_PYTHON" || die "could not install Python $RUNTIME_PYTHON with uv"
  BATCHOPS_PYTHON_3_9="$(python3 -m uv python find "$RUNTIME_PYTHON")" || die "uv installed no Python $RUNTIME_PYTHON"
  export BATCHOPS_PYTHON_3_9
}

ensure_terraform
ensure_runtime_python
cd "$CI_ROOT" || die "cannot enter $CI_ROOT"
exec ./run tests "$@"
