#!/usr/bin/env bash
# Promotion gate: scripts/ci/promote_check.sh <from env> <to env>
# Checks that <from env> is deployed (pipelines and stack in place, pipelines equal to this commit's built
# definitions when build/ci/<from>/definitions exists) with its read-only role before <to env> may be applied.
source "$(dirname "$0")/common.sh"

from="${1:-}" to="${2:-}"
require_environment "$from"
require_environment "$to"
[ "$from" != "$to" ] || die "promotion needs two different environments, got '$from' twice"
use_aws_role "$from" plan
definitions="$CI_OUT/$from/definitions"
if [ -d "$definitions" ]; then
  # In CI the definitions:<from> job's artifact: the deployed pipelines must be this commit's.
  batchops_cli --env "$from" ci check-deployed --definitions "$definitions"
else
  say "no built definitions in $definitions: checking presence only"
  batchops_cli --env "$from" ci check-deployed
fi
say "promotion $from -> $to approved"
