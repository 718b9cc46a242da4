#!/usr/bin/env bash
# Start the training-with-HPO pipeline of one environment: scripts/ci/retrain.sh <env>
# (the scheduled retraining job; on a laptop it does the same with the local credential chain).
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
use_aws_role "$env" deploy
batchops_cli --env "$env" pipelines start training_hpo
