#!/usr/bin/env bash
# Build the pipeline definitions of one environment into build/ci/<env>/definitions: scripts/ci/definitions.sh <env>
# Offline: the account named in the role ARNs comes from the environment's role variables (see common.sh).
source "$(dirname "$0")/common.sh"

env="${1:-}"
require_environment "$env"
account="$(account_of_environment "$env")"
out="$(env_out_dir "$env")/definitions"
rm -rf "$out"
batchops_cli --env "$env" pipelines definitions --out "$out" --account-id "$account"
say "definitions for $env written to $out"
