#!/usr/bin/env bash
# The project's whole test command (`./run tests`: ruff, terraform fmt, pytest incl. Terraform and checkov
# tests), with the pinned Terraform installed first when the image has none. Extra arguments go to pytest.
source "$(dirname "$0")/common.sh"

py="${PYTHON:-python3}"
command -v "$py" >/dev/null 2>&1 || die "Python 3.11+ is required ('$py' not found; set PYTHON)"
tf_dir="$("$py" "$CI_ROOT/scripts/ci/install_terraform.py")"
export PATH="$tf_dir:$PATH"
configure_provider_mirror
cd "$CI_ROOT"
exec ./run tests "$@"
