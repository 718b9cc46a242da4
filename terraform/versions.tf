terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # No backend block here on purpose: batchops.terraform writes backend_override.tf per run
  # (local state under BATCHOPS_HOME for `local`, remote state with locking for real environments,
  # configured with -backend-config). See docs/infrastructure.md.
}
