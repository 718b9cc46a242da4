#!/usr/bin/env bash
# The project's whole test command (`./run tests`: ruff, terraform fmt, pytest incl. Terraform and checkov
# tests), with the pinned Terraform installed first when the image has none. Extra arguments go to pytest.
# The Terraform adapter finds a provider mirror itself (TF_PLUGIN_MIRROR, see docs/infrastructure.md).
source "$(dirname "$0")/common.sh"

ensure_terraform
cd "$CI_ROOT" || die "cannot enter $CI_ROOT"
exec ./run tests "$@"
