# Environment "local": the embedded default. Everything runs on this machine against the
# local AWS emulator; no AWS account is touched. Read by Terraform (-var-file) and by Python
# (batchops_core.settings).
#
# This file is the annotated REFERENCE: it states every key. The defaults live in one place,
# batchops_core/settings.py (Terraform's variable types and defaults are generated from it); the
# other env files state only what differs from them. Keys without a default: project, environment,
# region, dataset, model.registration_threshold, model.model_quality_threshold.

project     = "abalone"
environment = "local" # any lower-case name; resource names are <project>-<environment>-...
region      = "us-east-1"
# true: runs on the embedded emulator (state under BATCHOPS_HOME). Left out: true only for the
# environment named "local", so another emulated environment says `emulated = true`.
emulated = true

tags = {
  owner       = "ml-platform"
  cost-center = "ml-research"
}

# ---------------------------------------------------------------- storage
storage = {
  # Default bucket name: <project>-<environment>-data. Bucket names are global: bucket_name_suffix
  # "account_id" appends -<account id>, "region_account" -<region>-<account id> (Terraform and the
  # CLI take the account id from STS or --account-id); "" keeps bucket_name exactly as it is.
  bucket_name        = "abalone-local-data"
  bucket_name_suffix = ""
  create_bucket      = true # false: use an existing bucket of this name (then the two keys below)
  kms_key_arn        = ""   # empty: create a customer-managed key (rotation on)
  # create_bucket = false only: the existing bucket's SSE-KMS key ("" if none), granted to the
  # SageMaker role; and true to confirm EventBridge delivery is enabled on the bucket (the stack
  # then leaves the bucket's notification configuration alone). See docs/infrastructure.md.
  existing_bucket_kms_key_arn              = ""
  existing_bucket_eventbridge_acknowledged = false
  # 0: no lifecycle rule. A demo's versions never reach an expiry age, and the provider waits about a minute
  # after putting the rule; dev/staging/prod set days, and the Terraform tests apply the rule.
  noncurrent_version_expiration_days = 0
  force_destroy                      = true # local only: destroy removes objects too (default false)
}

# Key prefixes inside the bucket (no leading or trailing slash; none may contain another).
prefixes = {
  training     = "data/training"     # a .csv (or a folder's trigger file) dropped here starts training
  inference    = "data/inference"    # a .csv (or a folder's trigger file) dropped here starts batch inference
  ground_truth = "data/ground-truth" # labels for a batch: same relative path as the batch
  outputs      = "pipeline-runs"     # every execution writes under <outputs>/<pipeline>/<execution id>/
  code         = "pipeline-code"     # step scripts uploaded by the pipeline upsert
  results      = "data/predictions"  # each scored batch's predictions, at the batch's relative path
}

# ---------------------------------------------------------------- datasets of many files
# A folder of gzip part files (*.csv.gz) is one dataset once its trigger file arrives: one run over all parts.
# (A .csv object starts a run on its own, so parts are never plain .csv; `batchops data drop DIR` gzips them.)
folder_datasets = {
  trigger_file = "_SUCCESS"
}

# ---------------------------------------------------------------- dataset schema
# Any tabular regression CSV works: list its columns in file order.
# types: "integer", "float", "categorical"; the record key is matched between predictions and labels.
dataset = {
  header     = true
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

# ---------------------------------------------------------------- model quality gates
# metric: regression: mse | rmse | mae | mape (lower is better) or r2 (higher is better);
#         binary: f1 | precision | recall | accuracy | auc (higher is better) or logloss (lower);
#         multiclass: accuracy | f1_macro | f1_weighted (higher is better) or mlogloss (lower).
# problem_type (regression | binary | multiclass) may be left out: the metric's (accuracy needs it stated).
# classes: classification labels in class-index order (binary: negative, then positive); sets num_class.
# algorithm: xgboost-builtin (SageMaker's built-in XGBoost, section xgboost) | script (your own training script
#            in a framework container, section script; docs/bring-your-own-model.md).
model = {
  algorithm               = "xgboost-builtin"
  problem_type            = "regression"
  metric                  = "rmse"
  classes                 = []
  decision_threshold      = 0.5 # binary: probability at and above which the positive class is predicted
  registration_threshold  = 2.6 # training registers the model only if rmse <= 2.6
  model_quality_threshold = 3.0 # a scored batch with rmse > 3.0 fails and starts retraining
  validation_fraction     = 0.15
  test_fraction           = 0.15
  split_seed              = 42
}

# ---------------------------------------------------------------- XGBoost (built-in algorithm)
xgboost = {
  framework_version = "1.7-1"
  hyperparameters = {
    objective        = "reg:squarederror"
    eval_metric      = "rmse"
    num_round        = "120"
    max_depth        = "5"
    eta              = "0.1"
    subsample        = "0.8"
    min_child_weight = "2"
  }
}

# ---------------------------------------------------------------- your own script (model.algorithm = "script")
# Paths are relative to the repository root; the entry point lies inside source_dir, which is uploaded whole.
# hyperparameters become the script's arguments (--name value); metric_definitions read metrics from its log (the
# first group of the regex is the value); hpo.objective_metric must be one of them.
script = {
  framework         = "sklearn" # sklearn 1.2-1 | xgboost 1.7-1 | 3.0-5 (framework containers with a local runtime)
  framework_version = "1.2-1"
  source_dir        = "examples/sklearn_model"
  entry_point       = "examples/sklearn_model/train.py"
  hyperparameters = {
    n_estimators  = "200"
    max_depth     = "3"
    learning_rate = "0.1"
  }
  metric_definitions = [
    { name = "validation:rmse", regex = "validation:rmse=([-+0-9.eE]+)" },
  ]
}

hpo = {
  strategy          = "Random" # Random | Bayesian | Hyperband (Grid needs categorical ranges: not offered)
  objective_metric  = "validation:rmse"
  max_jobs          = 4
  max_parallel_jobs = 2
  ranges = [
    { name = "max_depth", type = "integer", min = 3, max = 8, scaling = "Auto" },
    { name = "eta", type = "continuous", min = 0.05, max = 0.3, scaling = "Auto" },
    { name = "min_child_weight", type = "continuous", min = 1, max = 6, scaling = "Auto" },
  ]
}

# ---------------------------------------------------------------- data quality
data_quality = {
  engine                   = "builtin" # builtin: our engine as a processing step | model_monitor (QualityCheck step; closed to new customers from 2026-07-30)
  on_drift                 = "warn"    # warn: report and keep scoring | fail: stop the batch
  comparison_threshold     = 0.1
  comparison_method        = "Robust" # Simple | Robust
  categorical_drift_method = "LInfinity"
}

# ---------------------------------------------------------------- compute
compute = {
  processing_instance_type  = "ml.m5.large"
  processing_instance_count = 1 # > 1 splits the inference Preprocess and DataQualityCheck (pipelines/README.md)
  training_instance_type    = "ml.m5.xlarge"
  training_instance_count   = 1
  transform_instance_type   = "ml.m5.large"
  transform_instance_count  = 1
  volume_size_gb            = 30
  max_runtime_seconds       = 86400
}

# ---------------------------------------------------------------- SageMaker pipelines
pipelines = {
  # Defaults: <project>-<environment>-training, -training-hpo, -inference, -model-quality, -models.
  training_name       = "abalone-local-training"
  training_hpo_name   = "abalone-local-training-hpo"
  inference_name      = "abalone-local-inference"
  model_quality_name  = "abalone-local-model-quality"
  model_package_group = "abalone-local-models"
  execution_role_arn  = "" # empty: Terraform creates a least-privilege SageMaker execution role
}

# ---------------------------------------------------------------- notifications
notifications = {
  # Default: no recipients.
  recipients                = ["ml-team@example.com", "data-eng@example.com"]
  slack_webhook_secret_name = "" # Secrets Manager secret holding a Slack-compatible webhook URL
  # Besides these rules, final execution statuses and failed steps are always sent. A rule's pipeline
  # defaults to "*", mute to false, subject/body to "" (the default templates).
  rules = [
    {
      pipeline = "*"
      step     = "DataQualityCheck"
      status   = "Succeeded"
      mute     = false
      subject  = "[{{ environment }}] data quality report for {{ pipeline }}"
      body     = ""
    },
    {
      pipeline = "*"
      step     = "ModelQualityViolated"
      status   = "Failed"
      mute     = false
      subject  = "[{{ environment }}] model quality below threshold: {{ retraining }}"
      body     = ""
    },
  ]
}

# ---------------------------------------------------------------- schedules (EventBridge)
# Default: none. Per entry, enabled defaults to true and parameters to {}.
schedules = [
  {
    pipeline   = "training_hpo"
    expression = "cron(0 3 ? * SUN *)"
    enabled    = false
    parameters = {}
  },
]

# ---------------------------------------------------------------- approval
approval = {
  gitlab_trigger_enabled   = false
  gitlab_url               = ""
  gitlab_project_id        = ""
  gitlab_ref               = "main"
  gitlab_token_secret_name = ""
}

# ---------------------------------------------------------------- lambdas
lambdas = {
  runtime              = "python3.12"
  timeout_seconds      = 60
  memory_mb            = 256
  reserved_concurrency = 5
  log_retention_days   = 14 # default 30
}

# ---------------------------------------------------------------- network and job encryption
network = {
  # VPC of the SageMaker jobs: both lists or neither (subnet-<hex>, sg-<hex>); two or more subnets in
  # different Availability Zones recommended. create_vpc = true: Terraform creates a VPC, two private subnets in
  # two Availability Zones and a security group instead (the lists stay empty).
  subnets            = []
  security_group_ids = []
  create_vpc         = false
  # true: S3 gateway and SageMaker API, SSM, STS, CloudWatch Logs interface endpoints in the jobs' VPC (what
  # ResolveModel, ModelQualityCheck and the feedback Preprocess call from a private subnet).
  create_vpc_endpoints = false
  # Step kinds whose containers run without network access: preprocess | data_quality | evaluate | training |
  # transform. Steps that call AWS (ResolveModel, ModelQualityCheck, a Preprocess reading feedback) never are.
  network_isolation               = []
  encrypt_inter_container_traffic = true
  job_kms_key_arn                 = "" # empty: the stack's data key (storage.kms_key_arn or the key it creates)
}

# ---------------------------------------------------------------- several accounts
# docs/infrastructure.md, "Several accounts": a registry environment trains and registers, its consumers score
# with the versions promoted to them (batchops ci deploy-model) and train nothing.
accounts = {
  account_id = ""           # set: credentials of another account are refused (emulated: the account it is served as)
  role       = "standalone" # standalone | registry | consumer
  # role = registry: each consumer's account and environment; its execution role
  # (<project>-<environment>-sagemaker-execution unless execution_role_arn is given) may describe and list the
  # group's versions and read their artefact, preprocessing and baselines (bucket and key policies).
  consumers = []
  # role = consumer: where its model versions come from (kms_key_arn: the registry's Terraform output).
  registry = {
    environment         = ""
    account_id          = ""
    model_package_group = ""
    bucket              = ""
    kms_key_arn         = ""
    outputs_prefix      = "pipeline-runs"
  }
}
