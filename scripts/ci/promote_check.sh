#!/usr/bin/env bash
# Promotion gate: scripts/ci/promote_check.sh <from env> <to env>
# Checks that <from env> is deployed (pipelines and stack in place) with its read-only role before <to env>
# may be applied.
source "$(dirname "$0")/common.sh"

from="${1:-}" to="${2:-}"
require_environment "$from"
require_environment "$to"
[ "$from" != "$to" ] || die "promotion needs two different environments, got '$from' twice"
py="$(project_python)"
use_aws_role "$from" plan
"$py" "$CI_ROOT/scripts/ci/check_deployed.py" --env "$from"
say "promotion $from -> $to approved"
