#!/usr/bin/env bash
# Build the Lambda zips into terraform/build/lambda (the Terraform checks and plans read them).
source "$(dirname "$0")/common.sh"
build_lambda_zips
