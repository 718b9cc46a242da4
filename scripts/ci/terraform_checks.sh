#!/usr/bin/env bash
# Terraform static checks through the adapter: fmt -check (exit 3 when a file is not formatted), validate, and
# `terraform test` (mock-provider runs under terraform/tests/, variables from env_files/$TF_TEST_ENV.tfvars,
# default local). No backend: these checks never read or write any environment's state. The adapter builds
# the Lambda zips the tests read.
source "$(dirname "$0")/common.sh"

test_env="${TF_TEST_ENV:-local}"
require_environment "$test_env"
say "terraform fmt, validate, test (env_files/$test_env.tfvars)"
terraform_adapter "$test_env" checks
