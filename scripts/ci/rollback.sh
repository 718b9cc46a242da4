#!/usr/bin/env bash
# Model rollback of one environment: scripts/ci/rollback.sh <env>
# Rejects the environment's active version there only (back to the version it used before, still Approved);
# writes build/ci/<env>/rollback.env, the record the job publishes as a dotenv report.
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
out="$(env_out_dir "$env")"
use_registry_role "$env"
use_aws_role "$env" deploy
batchops_cli --env "$env" ci rollback-model --report "$out/rollback.env"
