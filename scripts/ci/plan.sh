#!/usr/bin/env bash
# Plan one environment: scripts/ci/plan.sh <env>
# Validates the env file and plans against the environment's GitLab-managed state through the adapter, which
# builds the Lambda zips and writes, under build/ci/<env>/: plan.tfplan (what apply.sh applies, nothing else),
# plan.tfplan.lambda.sha256 (the zips the plan was made with; apply refuses other ones), plan.txt
# (human-readable) and plan-report.json (create/update/delete counts for the merge-request widget).
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
use_gitlab_state "$env"  # fails before any work when no state location is known
out="$(env_out_dir "$env")"

say "checking env_files/$env.tfvars"
batchops_cli config check "$(env_file "$env")"
use_aws_role "$env" plan
say "terraform plan ($env)"
terraform_adapter "$env" plan "${GITLAB_STATE_ARGS[@]}" \
  --out "$out/plan.tfplan" --text "$out/plan.txt" --report "$out/plan-report.json"
say "plan for $env: $(cat "$out/plan-report.json")"
