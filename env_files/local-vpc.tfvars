# Environment "local-vpc": the embedded default with the enterprise network path. Runs on the local AWS emulator
# like "local" (no AWS account is touched); Terraform creates a VPC, two private subnets in two Availability Zones
# and the jobs' security group in the emulator, every job runs in them with its volume and outputs encrypted with
# the stack's key, and the jobs that make no AWS calls run network-isolated. States only what differs from the
# defaults in batchops_core/settings.py (env_files/local.tfvars shows every key with its meaning).

project     = "abalone"
environment = "local-vpc"
region      = "us-east-1"
emulated    = true

storage = {
  noncurrent_version_expiration_days = 0
  force_destroy                      = true
}

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

notifications = {
  recipients = ["ml-team@example.com"]
}

network = {
  create_vpc           = true
  create_vpc_endpoints = true
  network_isolation    = ["preprocess", "data_quality", "evaluate", "training", "transform"]
}
