#!/usr/bin/env bash
# Destroy one environment's stack: BATCHOPS_CONFIRM_DESTROY=<env> scripts/ci/destroy.sh <env>
# The confirmation variable must name the environment: a second, explicit "yes" besides the manual job.
# Data in a bucket with force_destroy = false stays (Terraform then fails on the non-empty bucket), and so do
# the registered model versions.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
use_gitlab_state "$env"  # fails before any work when no state location is known
# Checked here too, not only by the adapter: the pipelines are removed before Terraform runs.
[ "${BATCHOPS_CONFIRM_DESTROY:-}" = "$env" ] ||
  die "refusing to destroy '$env': set BATCHOPS_CONFIRM_DESTROY=$env to confirm"

use_aws_role "$env" deploy
# The pipelines and their uploaded step scripts are not Terraform's: removed first, so that the pipelines
# never outlive their execution role and the code prefix does not keep the bucket from being deleted.
batchops_cli --env "$env" ci teardown-pipelines
say "terraform destroy ($env)"
terraform_adapter "$env" destroy "${GITLAB_STATE_ARGS[@]}" --confirm "$env"
