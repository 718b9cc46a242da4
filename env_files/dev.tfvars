# Environment "dev": a real AWS account for integration; applied from GitLab CI (plan on merge requests,
# manual apply on main). States only what differs from the defaults in batchops_core/settings.py
# (env_files/local.tfvars shows every key with its meaning).

project     = "abalone"
environment = "dev"
region      = "us-east-1"

tags = {
  owner       = "ml-platform"
  cost-center = "ml-research"
}

# Required: the data's schema and the gate thresholds (they depend on the target's scale).
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
  registration_threshold  = 2.6 # training registers the model only if rmse <= 2.6
  model_quality_threshold = 3.0 # a scored batch with rmse > 3.0 fails and starts retraining
}

notifications = {
  recipients = ["ml-team@example.com", "data-eng@example.com"]
}
