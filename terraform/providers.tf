# The endpoint, credentials and retry count come from the environment (AWS_ENDPOINT_URL, AWS_PROFILE or
# OIDC web identity, AWS_MAX_ATTEMPTS): the same HCL runs against AWS and against the local emulator.
provider "aws" {
  region = var.region
  # accounts.account_id: a plan or apply with credentials of another account fails before anything changes.
  allowed_account_ids = var.accounts.account_id != "" ? [var.accounts.account_id] : null

  default_tags {
    tags = merge(var.tags, {
      project     = var.project
      environment = var.environment
      managed-by  = "terraform"
    })
  }
}
