#!/usr/bin/env bash
# Apply the reviewed plan of one environment: scripts/ci/apply.sh <env>
# Applies build/ci/<env>/plan.tfplan as planned (Terraform itself refuses a plan whose state has moved on)
# after checking that the Lambda zips are the ones the plan was made with.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
state_address "$env" >/dev/null  # fail before any work when no state location is known
out="$CI_OUT/$env"
[ -f "$out/plan.tfplan" ] ||
  die "no reviewed plan at $out/plan.tfplan: run scripts/ci/plan.sh $env first (in CI: the plan job's artifacts)"
[ -f "$out/lambda.sha256" ] || die "no $out/lambda.sha256 next to the plan: the plan job's artifacts are incomplete"
[ -d "$TF_ROOT/build/lambda" ] || die "no Lambda zips in $TF_ROOT/build/lambda: the plan job's artifacts are missing"
if ! (cd "$TF_ROOT/build/lambda" && sha256sum --quiet -c "$out/lambda.sha256"); then
  die "the Lambda zips in $TF_ROOT/build/lambda differ from the ones planned: plan again"
fi

use_aws_role "$env" deploy
terraform_init "$env"
say "terraform apply of the reviewed plan ($env)"
tf apply -input=false -no-color -lock-timeout="${TF_LOCK_TIMEOUT:-120s}" "$out/plan.tfplan"
