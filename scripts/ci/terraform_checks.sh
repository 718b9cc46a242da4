#!/bin/sh
# Terraform static checks: fmt, validate, and `terraform test` (mock-provider runs under terraform/tests/).
# POSIX sh: runs in the plain hashicorp/terraform image as well as on a laptop. Needs the Lambda zips in
# terraform/build/lambda (scripts/ci/lambda_zips.sh, or the lambda-zips job's artifacts).
set -eu

root="$(cd "$(dirname "$0")/../.." && pwd)"
tf_root="${TF_ROOT:-$root/terraform}"
export TF_IN_AUTOMATION=1 TF_INPUT=0
# Init state of its own, no backend: these checks never read or write any environment's state.
export TF_DATA_DIR="${BATCHOPS_CI_OUT:-$root/build/ci}/checks/tf-data"
mkdir -p "$TF_DATA_DIR"

echo "==> terraform fmt -check"
terraform -chdir="$tf_root" fmt -check -recursive -diff
echo "==> terraform init (no backend)"
terraform -chdir="$tf_root" init -input=false -backend=false -no-color
echo "==> terraform validate"
terraform -chdir="$tf_root" validate -no-color
if ls "$tf_root"/tests/*.tftest.hcl >/dev/null 2>&1; then
  # The test files take their variables from an env file, as batchops.terraform runs them.
  test_env="${TF_TEST_ENV:-local}"
  echo "==> terraform test (env_files/$test_env.tfvars)"
  terraform -chdir="$tf_root" test -no-color -var-file="$root/env_files/$test_env.tfvars"
else
  echo "error: no $tf_root/tests/*.tftest.hcl found: the module's tests are missing" >&2
  exit 2
fi
