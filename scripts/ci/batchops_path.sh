#!/usr/bin/env bash
# Prints the directory holding the project's `batchops` command (its virtual environment, set up with the pinned
# dependencies when missing), for the jobs that call `batchops` directly:
#   export PATH="$(scripts/ci/batchops_path.sh):$PATH"
# The CI image has Python but not the project installed; this is the only set-up those jobs need.
source "$(dirname "$0")/common.sh"

py="$(project_python)"
dirname "$py"
