#!/usr/bin/env bash
# Plan one environment: scripts/ci/plan.sh <env>
# Validates the env file, builds the Lambda zips, plans against the environment's GitLab-managed state and
# writes, under build/ci/<env>/: plan.tfplan (what apply.sh applies, nothing else), plan.txt (human-readable),
# plan-report.json (create/update/delete counts for the merge-request widget) and lambda.sha256 (the zips the
# plan was made with; apply.sh refuses other ones).
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
state_address "$env" >/dev/null  # fail before any work when no state location is known
out="$(env_out_dir "$env")"
py="$(project_python)"

say "checking env_files/$env.tfvars"
"$py" "$CI_ROOT/scripts/check_config.py" "$(env_file "$env")"
build_lambda_zips
use_aws_role "$env" plan
terraform_init "$env"

rm -f "$out/plan.tfplan" "$out/plan.txt" "$out/plan-report.json" "$out/lambda.sha256"
say "terraform plan ($env)"
tf plan -input=false -no-color -lock-timeout="${TF_LOCK_TIMEOUT:-120s}" \
  -var-file="$(env_file "$env")" -out="$out/plan.tfplan"
tf show -no-color "$out/plan.tfplan" > "$out/plan.txt"
tf show -json "$out/plan.tfplan" | "$py" "$CI_ROOT/scripts/ci/plan_report.py" > "$out/plan-report.json"
(cd "$TF_ROOT/build/lambda" && sha256sum -- *.zip) > "$out/lambda.sha256"
say "plan for $env: $(cat "$out/plan-report.json")"
