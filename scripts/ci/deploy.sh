#!/usr/bin/env bash
# Approval-triggered model deploy: scripts/ci/deploy.sh <env>
# Takes MODEL_PACKAGE_ARN / MODEL_PACKAGE_VERSION from the environment (set by GitLab's pipeline trigger);
# writes build/ci/<env>/deploy.env, the record the job publishes as a dotenv report.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
[ -n "${MODEL_PACKAGE_ARN:-}" ] || die "MODEL_PACKAGE_ARN is not set (the pipeline trigger passes it)"
out="$(env_out_dir "$env")"
py="$(project_python)"
use_aws_role "$env" deploy
"$py" "$CI_ROOT/scripts/ci/deploy_model.py" --env "$env" --report "$out/deploy.env"
