#!/usr/bin/env bash
# Create or update the SageMaker pipelines of one environment: scripts/ci/upsert.sh <env>
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
py="$(project_python)"
use_aws_role "$env" deploy
"$py" "$CI_ROOT/scripts/upsert_pipelines.py" --env "$env"
