#!/usr/bin/env bash
# Destroy one environment's stack: BATCHOPS_CONFIRM_DESTROY=<env> scripts/ci/destroy.sh <env>
# The confirmation variable must name the environment: a second, explicit "yes" besides the manual job.
# Data in a bucket with force_destroy = false stays (Terraform then fails on the non-empty bucket).
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
state_address "$env" >/dev/null  # fail before any work when no state location is known
[ "${BATCHOPS_CONFIRM_DESTROY:-}" = "$env" ] ||
  die "refusing to destroy '$env': set BATCHOPS_CONFIRM_DESTROY=$env to confirm"

build_lambda_zips
use_aws_role "$env" deploy
terraform_init "$env"
say "terraform destroy ($env)"
tf destroy -input=false -no-color -auto-approve -lock-timeout="${TF_LOCK_TIMEOUT:-120s}" \
  -var-file="$(env_file "$env")"
