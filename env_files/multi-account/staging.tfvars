# Multi-account example, environment "staging" (a consumer: scores with the versions promoted to it): `batchops demo --scenario multi-account` runs the
# three files of this folder on the embedded emulator, one emulated account each (docs/infrastructure.md,
# "Several accounts"). On AWS, state the real account ids and the registry's
# key (its Terraform output kms_key_arn; the demo writes the emulated key's ARN into a copy of this file).

project     = "abalone"
environment = "staging"
region      = "us-east-1"
emulated    = true

# Required: the data's schema and the gate thresholds (as env_files/local.tfvars).
dataset = {
  record_key = "record_id"
  target     = "rings"
  columns = [
    { name = "record_id", type = "categorical" },
    { name = "sex", type = "categorical" },
    { name = "length", type = "float" },
    { name = "diameter", type = "float" },
    { name = "height", type = "float" },
    { name = "whole_weight", type = "float" },
    { name = "shucked_weight", type = "float" },
    { name = "viscera_weight", type = "float" },
    { name = "shell_weight", type = "float" },
    { name = "rings", type = "integer" },
  ]
}

model = {
  registration_threshold  = 2.6
  model_quality_threshold = 3.0
}

storage = {
  noncurrent_version_expiration_days = 0
  force_destroy                      = true
}

lambdas = {
  log_retention_days = 14
}

notifications = {
  recipients = ["ml-team@example.com"]
}

accounts = {
  account_id = "222222222222"
  role       = "consumer"
  registry = {
    environment         = "dev"
    account_id          = "111111111111"
    model_package_group = "abalone-dev-models"
    bucket              = "abalone-dev-data"
    kms_key_arn         = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
  }
}
