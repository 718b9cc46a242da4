# shellcheck shell=bash
# Shared helpers for the CI wrappers in scripts/ci/. Sourced, never run. Every wrapper works the same in a
# GitLab job and on a laptop: GitLab-only inputs (CI_JOB_TOKEN, the OIDC id token) are optional off CI.

set -euo pipefail

CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Terraform root module (override for a different checkout layout) and where job outputs go.
TF_ROOT="${TF_ROOT:-$CI_ROOT/terraform}"
CI_OUT="${BATCHOPS_CI_OUT:-$CI_ROOT/build/ci}"

export TF_IN_AUTOMATION=1 TF_INPUT=0

die() { echo "error: $*" >&2; exit 2; }
say() { echo "==> $*"; }

# Accepts an environment that has an env file; prints nothing, dies with the list of known ones otherwise.
require_environment() {
  local env="${1:-}"
  [ -n "$env" ] || die "missing environment argument (one of: $(known_environments))"
  case "$env" in
    *[!a-z0-9-]*) die "environment '$env': only lower-case letters, digits and '-' are allowed" ;;
  esac
  [ -f "$CI_ROOT/env_files/$env.tfvars" ] ||
    die "environment '$env': no file env_files/$env.tfvars (known: $(known_environments))"
}

known_environments() {
  local names=() file
  for file in "$CI_ROOT"/env_files/*.tfvars; do
    [ -e "$file" ] && names+=("$(basename "$file" .tfvars)")
  done
  echo "${names[*]:-none}"
}

env_file() { echo "$CI_ROOT/env_files/$1.tfvars"; }
env_out_dir() { mkdir -p "$CI_OUT/$1" && echo "$CI_OUT/$1"; }

# The project's Python: the repository's .venv when it is set up, otherwise one is created with the pinned
# dependencies (runtime only; `./run tests` adds the dev tools). PYTHON overrides the interpreter used.
# BATCHOPS_VENV names an environment set up elsewhere (a checkout's .venv when its jobs run through
# gitlab-ci-local); the code imported is still this checkout's (see batchops_cli).
project_python() {
  local venv="${BATCHOPS_VENV:-$CI_ROOT/.venv}"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import batchops_core.settings' >/dev/null 2>&1; then
    echo "$venv/bin/python"; return 0
  fi
  [ -z "${BATCHOPS_VENV:-}" ] || die "BATCHOPS_VENV=$BATCHOPS_VENV: not a set-up project environment (./run tests makes one)"
  local base="${PYTHON:-python3}"
  command -v "$base" >/dev/null 2>&1 || die "Python 3.11+ is required ('$base' not found; set PYTHON)"
  say "setting up $venv (pinned dependencies from constraints.txt)" >&2
  "$base" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade "pip>=23" >&2
  "$venv/bin/python" -m pip install --quiet -c "$CI_ROOT/constraints.txt" -e "$CI_ROOT" >&2
  echo "$venv/bin/python"
}

# The project's one command line, `batchops`, with the project's Python (works before anything is on PATH),
# importing the code of this checkout (CI_ROOT), whichever checkout the environment was installed from.
batchops_cli() {
  local py
  py="$(project_python)"
  PYTHONPATH="$CI_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$py" -m batchops.cli "$@"
}

# A tool that must not share the project's environment (checkov pins an old boto3) in a virtual environment
# of its own: ensure_tool_venv <venv dir> <pip requirement>. A stamp makes the second call a no-op.
ensure_tool_venv() {
  local venv="$1" requirement="$2"
  if [ "$(cat "$venv/.batchops-stamp" 2>/dev/null)" = "$requirement" ]; then
    return 0
  fi
  say "installing $requirement into $venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "$requirement"
  echo "$requirement" > "$venv/.batchops-stamp"
}

# The role ARN of an environment's role kind, from the CI/CD variables AWS_PLAN_ROLE_ARN_<ENV> /
# AWS_DEPLOY_ROLE_ARN_<ENV> (plan falls back to deploy): role_of_environment <env> <plan|deploy>. Prints the ARN
# (empty when none is set) and sets ROLE_VARIABLE to the variable it names; dies on a value that is no role ARN.
role_of_environment() {
  local env="$1" kind="$2" upper role
  upper="$(echo "$env" | tr 'a-z-' 'A-Z_')"
  case "$kind" in
    plan) ROLE_VARIABLE="AWS_PLAN_ROLE_ARN_$upper"; role="${!ROLE_VARIABLE:-}"
          if [ -z "$role" ]; then ROLE_VARIABLE="AWS_DEPLOY_ROLE_ARN_$upper"; role="${!ROLE_VARIABLE:-}"; fi ;;
    deploy) ROLE_VARIABLE="AWS_DEPLOY_ROLE_ARN_$upper"; role="${!ROLE_VARIABLE:-}" ;;
    *) die "role kind '$kind': expected plan or deploy" ;;
  esac
  if [ -n "$role" ]; then
    case "$role" in
      arn:aws*:iam::[0-9]*:role/*) ;;
      *) die "$ROLE_VARIABLE='$role' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)" ;;
    esac
  fi
  [ -n "$role" ] || { [ "$kind" = plan ] && ROLE_VARIABLE="AWS_PLAN_ROLE_ARN_$upper (or AWS_DEPLOY_ROLE_ARN_$upper)"; }
  ROLE_ARN="$role"
}

# AWS credentials for jobs that touch an account. In GitLab the job's OIDC id token (AWS_ID_TOKEN, from
# `id_tokens:`) is written to a file and AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE are exported: boto3 and
# the Terraform AWS provider then call sts:AssumeRoleWithWebIdentity themselves. No access keys anywhere.
#   $1 environment, $2 role kind: "plan" (read-only role, used by merge-request plans) or "deploy".
# Role ARNs come from CI/CD variables AWS_PLAN_ROLE_ARN_<ENV> / AWS_DEPLOY_ROLE_ARN_<ENV> (plan falls back to
# deploy). Off CI without an id token nothing is exported: the normal credential chain (profile, SSO) is used.
use_aws_role() {
  local env="$1" kind="$2"
  role_of_environment "$env" "$kind"
  if [ -z "${AWS_ID_TOKEN:-}" ]; then
    if [ "${GITLAB_CI:-}" = "true" ]; then
      die "no OIDC id token in AWS_ID_TOKEN: the job needs 'id_tokens: AWS_ID_TOKEN' (see docs/gitlab-ci.md)"
    fi
    say "no OIDC id token: using the local AWS credential chain for '$env'"
    return 0
  fi
  [ -n "$ROLE_ARN" ] || die "no role to assume for '$env': set the CI/CD variable $ROLE_VARIABLE (see docs/gitlab-ci.md)"
  local token_dir
  token_dir="$(mktemp -d)"
  chmod 700 "$token_dir"
  printf '%s' "$AWS_ID_TOKEN" > "$token_dir/web-identity-token"
  chmod 600 "$token_dir/web-identity-token"
  add_cleanup "rm -rf '$token_dir'"
  export AWS_ROLE_ARN="$ROLE_ARN"
  export AWS_WEB_IDENTITY_TOKEN_FILE="$token_dir/web-identity-token"
  export AWS_ROLE_SESSION_NAME="gitlab-${CI_PROJECT_ID:-local}-${CI_PIPELINE_ID:-0}-${CI_JOB_ID:-0}"
  unset AWS_PROFILE
  say "AWS: assuming $ROLE_VARIABLE by web identity (session $AWS_ROLE_SESSION_NAME)"
}

# A consumer environment's job also reads its registry (is a version Approved?) in the registry's account, with
# the registry's read-only role assumed by the same OIDC token: exports AWS_REGISTRY_ROLE_ARN (read by
# batchops, batchops/aws_session.py connect_registry). Nothing for an environment that is no consumer, or off CI.
use_registry_role() {
  local env="$1" registry
  registry="$(batchops_cli --env "$env" ci registry-environment)" || die "cannot read the settings of '$env'"
  [ -n "$registry" ] || return 0
  require_environment "$registry"
  [ -n "${AWS_ID_TOKEN:-}" ] || { say "no OIDC id token: reading registry '$registry' with the local credential chain"; return 0; }
  role_of_environment "$registry" plan
  [ -n "$ROLE_ARN" ] || die "no role to read registry '$registry' of '$env': set the CI/CD variable $ROLE_VARIABLE (see docs/gitlab-ci.md)"
  export AWS_REGISTRY_ROLE_ARN="$ROLE_ARN"
  say "AWS: registry '$registry' read with $ROLE_VARIABLE"
}

# The AWS account of an environment without asking AWS: AWS_ACCOUNT_ID_<ENV>, else the account in the
# environment's deploy (or plan) role ARN. Used where an account must be named offline (pipeline definitions).
account_of_environment() {
  local env="$1" upper var value
  upper="$(echo "$env" | tr 'a-z-' 'A-Z_')"
  for var in "AWS_ACCOUNT_ID_$upper" "AWS_DEPLOY_ROLE_ARN_$upper" "AWS_PLAN_ROLE_ARN_$upper"; do
    value="${!var:-}"
    if [[ "$value" =~ ^([0-9]{12})$ || "$value" =~ ^arn:aws[a-z-]*:iam::([0-9]{12}):role/ ]]; then
      echo "${BASH_REMATCH[1]}"; return 0
    fi
    [ -z "$value" ] || die "$var='$value' is neither a 12-digit account id nor an IAM role ARN"
  done
  die "no AWS account known for '$env': set AWS_ACCOUNT_ID_$upper or AWS_DEPLOY_ROLE_ARN_$upper"
}

# Cleanup actions run in reverse order when the wrapper exits, however it exits.
CLEANUP_ACTIONS=()
add_cleanup() { CLEANUP_ACTIONS=("$1" "${CLEANUP_ACTIONS[@]}"); }
run_cleanup() {
  local action
  for action in "${CLEANUP_ACTIONS[@]}"; do eval "$action" || true; done
}
trap run_cleanup EXIT

# ------------------------------------------------------------------------------------------------ Terraform
# Every Terraform command goes through the project's adapter (`batchops infra`, batchops/terraform.py): it stages a root of its
# own per environment (nothing is written into $TF_ROOT), keeps a TF_DATA_DIR per environment under
# $CI_OUT/terraform/<env>/, builds the Lambda zips, installs providers from a filesystem mirror when one is
# found (TF_PLUGIN_MIRROR or BATCHOPS_TF_PLUGIN_MIRROR) and saves and applies plan files.

# The pinned Terraform on PATH: the one already there when it is that version, else installed (checksum
# verified) under build/ci-tools/ by `batchops ci install-terraform`.
ensure_terraform() {
  local dir
  dir="$(batchops_cli ci install-terraform)" || die "could not install the pinned Terraform"
  export PATH="$dir:$PATH"
}

# terraform_adapter <env> <command> [options]: `batchops infra <command>` with this checkout's module and
# output directory.
terraform_adapter() {
  local env="$1" command="$2"
  shift 2
  [ -d "$TF_ROOT" ] || die "Terraform root module '$TF_ROOT' does not exist"
  ensure_terraform
  batchops_cli --home "$CI_OUT" --env "$env" infra "$command" --module-dir "$TF_ROOT" "$@"
}

# Address of the GitLab-managed state of one environment. TF_STATE_BASE_ADDRESS overrides the GitLab API
# location (e.g. a laptop using a personal access token); TF_STATE_NAME overrides the state name.
state_address() {
  local env="$1" base
  if [ -n "${TF_STATE_BASE_ADDRESS:-}" ]; then
    base="$TF_STATE_BASE_ADDRESS"
  elif [ -n "${CI_API_V4_URL:-}" ] && [ -n "${CI_PROJECT_ID:-}" ]; then
    base="$CI_API_V4_URL/projects/$CI_PROJECT_ID/terraform/state"
  else
    die "no Terraform state location for '$env': run in GitLab CI or set TF_STATE_BASE_ADDRESS" \
        "(e.g. https://gitlab.example.com/api/v4/projects/<id>/terraform/state) and TF_HTTP_PASSWORD"
  fi
  echo "${base%/}/${TF_STATE_NAME:-$env}"
}

# The adapter's backend options for the environment's GitLab-managed HTTP state (locking built in), in the
# array GITLAB_STATE_ARGS. Credentials go through TF_HTTP_USERNAME / TF_HTTP_PASSWORD (the job token in CI),
# never through -backend-config: the adapter refuses that, as Terraform would write them into the plan file.
use_gitlab_state() {
  local env="$1" address
  address="$(state_address "$env")"
  if [ -z "${TF_HTTP_PASSWORD:-}" ] && [ -n "${CI_JOB_TOKEN:-}" ]; then
    export TF_HTTP_USERNAME="gitlab-ci-token" TF_HTTP_PASSWORD="$CI_JOB_TOKEN"
  fi
  # shellcheck disable=SC2034  # read by the wrapper that called this function
  GITLAB_STATE_ARGS=(--backend http
    --backend-config "address=$address"
    --backend-config "lock_address=$address/lock"
    --backend-config "unlock_address=$address/lock"
    --backend-config "lock_method=POST"
    --backend-config "unlock_method=DELETE"
    --backend-config "retry_wait_min=5"
    --lock-timeout "${TF_LOCK_TIMEOUT:-120s}")
  say "Terraform state of $env: $address"
}
