# Environment "prod": production AWS account; promoted from staging by a manual CI gate.
# States only what differs from the defaults in batchops_core/settings.py
# (env_files/local.tfvars shows every key with its meaning).

project     = "abalone"
environment = "prod"
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

storage = {
  noncurrent_version_expiration_days = 180
}

hpo = {
  max_jobs          = 20
  max_parallel_jobs = 4
}

compute = {
  training_instance_type = "ml.m5.2xlarge"
}

notifications = {
  recipients = ["ml-team@example.com", "data-eng@example.com", "ml-oncall@example.com"]
}

schedules = [
  { pipeline = "training_hpo", expression = "cron(0 3 ? * SUN *)" },
]

approval = {
  gitlab_trigger_enabled   = true
  gitlab_url               = "https://gitlab.example.com"
  gitlab_project_id        = "4242"
  gitlab_token_secret_name = "abalone/prod/gitlab-trigger-token"
}

lambdas = {
  reserved_concurrency = 10
  log_retention_days   = 365
}
