#!/usr/bin/env bash
# Approval-triggered model deploy: scripts/ci/deploy.sh <env>
# Takes MODEL_PACKAGE_ARN / MODEL_PACKAGE_VERSION from the environment (set by GitLab's pipeline trigger);
# writes build/ci/<env>/deploy.env, the record the job publishes as a dotenv report. A consumer environment
# checks the version's approval in its registry's account (that account's read-only role) and writes its own
# active-model parameter with its own deploy role.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
out="$(env_out_dir "$env")"
use_registry_role "$env"
use_aws_role "$env" deploy
batchops_cli --env "$env" ci deploy-model --report "$out/deploy.env"
