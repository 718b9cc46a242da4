#!/usr/bin/env bash
# Terraform for one environment through the project's adapter (batchops/terraform.py):
#   scripts/terraform.sh ENV COMMAND [options]     (--help lists them all)
#   ENV      local | dev | staging | prod (or a path to a .tfvars file)
#   COMMAND  init | validate | plan | apply | destroy | output | test | checks
#   plan --out F --text F --report F; apply --plan F (exactly that plan); destroy --confirm ENV
# Real environments: --backend http|s3 and --backend-config key=value (or BATCHOPS_TF_BACKEND and
# BATCHOPS_TF_BACKEND_CONFIG="key=value;key=value"), credentials from the usual variables
# (docs/infrastructure.md). local: needs AWS_ENDPOINT_URL of a running emulator; `batchops infra ...` does it all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${BATCHOPS_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || { echo "error: $PYTHON not found: run ./run tests once (it creates .venv) or set BATCHOPS_PYTHON" >&2; exit 2; }
[ $# -ge 2 ] || { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
exec "$PYTHON" -m batchops.terraform "$@"
