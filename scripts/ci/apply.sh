#!/usr/bin/env bash
# Apply the reviewed plan of one environment: scripts/ci/apply.sh <env>
# Applies build/ci/<env>/plan.tfplan as planned through the adapter: it refuses Lambda zips other than the ones
# the plan recorded (plan.tfplan.lambda.sha256) before Terraform runs, and Terraform itself refuses a plan whose
# state has moved on. In CI the plan and the zips are the plan job's artifacts.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
use_gitlab_state "$env"  # fails before any work when no state location is known
use_aws_role "$env" deploy
say "terraform apply of the reviewed plan ($env)"
terraform_adapter "$env" apply "${GITLAB_STATE_ARGS[@]}" --plan "$CI_OUT/$env/plan.tfplan"
