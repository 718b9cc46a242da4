#!/usr/bin/env bash
# Create or update the SageMaker pipelines of one environment: scripts/ci/upsert.sh <env>
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
use_aws_role "$env" deploy
batchops_cli --env "$env" pipelines upsert
