# One variable per top-level key of env_files/<env>.tfvars, the file batchops_core.settings also reads.
# Keys that only the pipelines use (dataset, model, xgboost, hpo, data_quality, compute) are declared with
# their full type too, so `-var-file` never warns about undeclared variables and a wrong value fails here
# as well as in Python.

variable "project" {
  description = "Project name; first part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.project)) && length(var.project) <= 24
    error_message = "project: a lower-case name of letters, digits and '-' (max 24 characters)."
  }
}

variable "environment" {
  description = "Environment name; second part of every resource name."
  type        = string

  validation {
    condition     = contains(["local", "dev", "staging", "prod"], var.environment)
    error_message = "environment: one of local, dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region of every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region: an AWS region such as 'us-east-1'."
  }
}

variable "tags" {
  description = "Tags added to every resource (besides project, environment and managed-by)."
  type        = map(string)

  validation {
    condition     = alltrue([for key in keys(var.tags) : length(key) <= 128 && !startswith(lower(key), "aws:")])
    error_message = "tags: keys are at most 128 characters and must not start with 'aws:'."
  }
}

variable "storage" {
  description = "The data bucket and its encryption key."
  type = object({
    bucket_name                        = string
    create_bucket                      = bool
    kms_key_arn                        = string
    noncurrent_version_expiration_days = number
    force_destroy                      = bool
  })

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.storage.bucket_name))
      && !strcontains(var.storage.bucket_name, "..")
    )
    error_message = "storage.bucket_name: a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')."
  }
  validation {
    condition     = var.storage.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.storage.kms_key_arn))
    error_message = "storage.kms_key_arn: empty (create a key) or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
  validation {
    condition     = var.storage.noncurrent_version_expiration_days >= 1 && floor(var.storage.noncurrent_version_expiration_days) == var.storage.noncurrent_version_expiration_days
    error_message = "storage.noncurrent_version_expiration_days: a whole number of days, at least 1."
  }
}

variable "prefixes" {
  description = "Key prefixes inside the bucket (no leading or trailing slash; none may contain another)."
  type = object({
    training     = string
    inference    = string
    ground_truth = string
    outputs      = string
    code         = string
  })

  validation {
    condition     = alltrue([for prefix in values(var.prefixes) : can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", prefix))])
    error_message = "prefixes: every prefix is a key prefix without leading/trailing '/' or spaces."
  }
  validation {
    condition = alltrue([
      for pair in setproduct(keys(var.prefixes), keys(var.prefixes)) :
      pair[0] == pair[1] || (
        var.prefixes[pair[0]] != var.prefixes[pair[1]]
        && !startswith(var.prefixes[pair[0]], "${var.prefixes[pair[1]]}/")
      )
    ])
    error_message = "prefixes: prefixes must not overlap (no two equal, none inside another)."
  }
}

variable "dataset" {
  description = "CSV schema of the training and inference data (used by the pipelines)."
  type = object({
    header     = bool
    record_key = string
    target     = string
    columns = list(object({
      name = string
      type = string
    }))
  })

  validation {
    condition     = alltrue([for column in var.dataset.columns : contains(["integer", "float", "categorical"], column.type)])
    error_message = "dataset.columns[*].type: one of integer, float, categorical."
  }
  validation {
    condition = (
      length(var.dataset.columns) >= 2
      && length(distinct(var.dataset.columns[*].name)) == length(var.dataset.columns)
      && contains(var.dataset.columns[*].name, var.dataset.target)
      && contains(var.dataset.columns[*].name, var.dataset.record_key)
      && var.dataset.target != var.dataset.record_key
    )
    error_message = "dataset: unique column names; target and record_key are two different listed columns."
  }
}

variable "model" {
  description = "Model quality gates (used by the pipelines and the notification Lambda)."
  type = object({
    metric                  = string
    registration_threshold  = number
    model_quality_threshold = number
    validation_fraction     = number
    test_fraction           = number
    split_seed              = number
  })

  validation {
    condition     = contains(["mse", "rmse", "mae", "r2"], var.model.metric)
    error_message = "model.metric: one of mse, rmse, mae, r2."
  }
  validation {
    condition = (var.model.metric == "r2"
      ? var.model.registration_threshold <= 1 && var.model.model_quality_threshold <= 1
      : var.model.registration_threshold > 0 && var.model.model_quality_threshold > 0
    )
    error_message = "model: r2 thresholds are at most 1; mse/rmse/mae thresholds are positive."
  }
  validation {
    condition = (
      var.model.validation_fraction > 0 && var.model.validation_fraction < 1
      && var.model.test_fraction > 0 && var.model.test_fraction < 1
      && var.model.validation_fraction + var.model.test_fraction < 0.9
    )
    error_message = "model: validation_fraction and test_fraction are in (0, 1) and leave at least 10% of rows for training."
  }
}

variable "xgboost" {
  description = "Built-in XGBoost algorithm version and hyperparameters (used by the pipelines)."
  type = object({
    framework_version = string
    hyperparameters   = map(string)
  })

  validation {
    condition     = contains(["1.7-1", "3.0-5"], var.xgboost.framework_version)
    error_message = "xgboost.framework_version: one of 1.7-1, 3.0-5."
  }
  validation {
    condition     = can(regex("^[1-9][0-9]*$", lookup(var.xgboost.hyperparameters, "num_round", "")))
    error_message = "xgboost.hyperparameters.num_round: required, a positive whole number."
  }
}

variable "hpo" {
  description = "Hyperparameter tuning of the training-with-HPO pipeline."
  type = object({
    strategy          = string
    objective_metric  = string
    max_jobs          = number
    max_parallel_jobs = number
    ranges = list(object({
      name    = string
      type    = string
      min     = number
      max     = number
      scaling = string
    }))
  })

  validation {
    condition = (
      contains(["Random", "Grid", "Bayesian", "Hyperband"], var.hpo.strategy)
      && contains(["validation:rmse", "validation:mae", "validation:mse"], var.hpo.objective_metric)
    )
    error_message = "hpo: strategy is Random, Grid, Bayesian or Hyperband; objective_metric is validation:rmse, validation:mae or validation:mse."
  }
  validation {
    condition     = var.hpo.max_parallel_jobs >= 1 && var.hpo.max_parallel_jobs <= var.hpo.max_jobs
    error_message = "hpo: 1 <= max_parallel_jobs <= max_jobs."
  }
  validation {
    condition = length(var.hpo.ranges) >= 1 && alltrue([
      for range in var.hpo.ranges :
      contains(["integer", "continuous"], range.type) && range.min < range.max
      && contains(["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"], range.scaling)
    ])
    error_message = "hpo.ranges: at least one range; type integer or continuous, min < max, scaling Auto, Linear, Logarithmic or ReverseLogarithmic."
  }
}

variable "data_quality" {
  description = "Data-quality check settings (used by the pipelines)."
  type = object({
    engine                   = string
    on_drift                 = string
    comparison_threshold     = number
    comparison_method        = string
    categorical_drift_method = string
  })

  validation {
    condition = (
      contains(["model_monitor", "builtin"], var.data_quality.engine)
      && contains(["warn", "fail"], var.data_quality.on_drift)
      && contains(["Simple", "Robust"], var.data_quality.comparison_method)
      && contains(["LInfinity", "ChiSquared"], var.data_quality.categorical_drift_method)
    )
    error_message = "data_quality: engine model_monitor|builtin, on_drift warn|fail, comparison_method Simple|Robust, categorical_drift_method LInfinity|ChiSquared."
  }
  validation {
    condition     = var.data_quality.comparison_threshold > 0 && var.data_quality.comparison_threshold <= 1
    error_message = "data_quality.comparison_threshold: a number in (0, 1]."
  }
}

variable "compute" {
  description = "SageMaker instance types and counts (used by the pipelines)."
  type = object({
    processing_instance_type  = string
    processing_instance_count = number
    training_instance_type    = string
    training_instance_count   = number
    transform_instance_type   = string
    transform_instance_count  = number
    volume_size_gb            = number
    max_runtime_seconds       = number
  })

  validation {
    condition = alltrue([
      for type in [var.compute.processing_instance_type, var.compute.training_instance_type, var.compute.transform_instance_type] :
      can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", type))
    ])
    error_message = "compute: instance types look like 'ml.m5.large'."
  }
  validation {
    condition = (
      var.compute.processing_instance_count >= 1 && var.compute.training_instance_count >= 1
      && var.compute.transform_instance_count >= 1 && var.compute.volume_size_gb >= 1
      && var.compute.max_runtime_seconds >= 1 && var.compute.max_runtime_seconds <= 432000
    )
    error_message = "compute: counts and volume size are at least 1; max_runtime_seconds is 1..432000."
  }
}

variable "pipelines" {
  description = "Names of the three SageMaker pipelines, the model package group and the execution role."
  type = object({
    training_name       = string
    training_hpo_name   = string
    inference_name      = string
    model_package_group = string
    execution_role_arn  = string
  })

  validation {
    # Lower case so EventBridge patterns and SageMaker ARNs agree on the name.
    condition = alltrue([
      for name in [var.pipelines.training_name, var.pipelines.training_hpo_name, var.pipelines.inference_name, var.pipelines.model_package_group] :
      can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", name)) && length(name) <= 63
    ])
    error_message = "pipelines: names are lower-case letters, digits and '-' (max 63)."
  }
  validation {
    condition     = length(distinct([var.pipelines.training_name, var.pipelines.training_hpo_name, var.pipelines.inference_name])) == 3
    error_message = "pipelines: the three pipeline names must differ."
  }
  validation {
    condition     = var.pipelines.execution_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.pipelines.execution_role_arn))
    error_message = "pipelines.execution_role_arn: empty (create the role) or an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "notifications" {
  description = "Email recipients, optional Slack webhook secret, and per-step/per-status message rules."
  type = object({
    recipients                = list(string)
    slack_webhook_secret_name = string
    rules = list(object({
      pipeline = string
      step     = string
      status   = string
      mute     = bool
      subject  = string
      body     = string
    }))
  })

  validation {
    condition = alltrue([
      for email in var.notifications.recipients :
      can(regex("^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$", email))
    ])
    error_message = "notifications.recipients: every entry is a valid email address."
  }
  validation {
    condition     = length(distinct(var.notifications.recipients)) == length(var.notifications.recipients)
    error_message = "notifications.recipients: each recipient once."
  }
  validation {
    condition     = var.notifications.slack_webhook_secret_name == "" || can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.notifications.slack_webhook_secret_name))
    error_message = "notifications.slack_webhook_secret_name: empty or a Secrets Manager secret name."
  }
  validation {
    condition = alltrue([
      for rule in var.notifications.rules :
      contains(["Starting", "Executing", "Stopping", "Stopped", "Failed", "Succeeded", "*"], rule.status)
    ])
    error_message = "notifications.rules[*].status: one of Starting, Executing, Stopping, Stopped, Failed, Succeeded, *."
  }
}

variable "schedules" {
  description = "Optional EventBridge schedules that start a pipeline (only enabled ones are created)."
  type = list(object({
    pipeline   = string
    expression = string
    enabled    = bool
    parameters = map(string)
  }))

  validation {
    condition     = alltrue([for schedule in var.schedules : contains(["training", "training_hpo", "inference"], schedule.pipeline)])
    error_message = "schedules[*].pipeline: one of training, training_hpo, inference."
  }
  validation {
    # rate(N unit) with singular unit for 1, or a six-field cron expression (min hour dom month dow year).
    condition = alltrue([
      for schedule in var.schedules :
      can(regex("^rate\\(1 (minute|hour|day)\\)$", schedule.expression))
      || can(regex("^rate\\(([2-9]|[1-9][0-9]+) (minutes|hours|days)\\)$", schedule.expression))
      || can(regex("^cron\\([^ ()]+( [^ ()]+){5}\\)$", schedule.expression))
    ])
    error_message = "schedules[*].expression: 'rate(1 hour)', 'rate(N hours|minutes|days)' or 'cron(min hour day-of-month month day-of-week year)'."
  }
}

variable "approval" {
  description = "What happens when a model version is approved: optional GitLab pipeline trigger."
  type = object({
    gitlab_trigger_enabled   = bool
    gitlab_url               = string
    gitlab_project_id        = string
    gitlab_ref               = string
    gitlab_token_secret_name = string
  })

  validation {
    condition     = var.approval.gitlab_url == "" || can(regex("^https://[^\\s/]+(/\\S*)?$", var.approval.gitlab_url))
    error_message = "approval.gitlab_url: empty or an https:// URL."
  }
  validation {
    condition     = var.approval.gitlab_token_secret_name == "" || can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.approval.gitlab_token_secret_name))
    error_message = "approval.gitlab_token_secret_name: empty or a Secrets Manager secret name."
  }
  validation {
    condition = !var.approval.gitlab_trigger_enabled || alltrue([
      var.approval.gitlab_url != "", var.approval.gitlab_project_id != "",
      var.approval.gitlab_ref != "", var.approval.gitlab_token_secret_name != "",
    ])
    error_message = "approval: gitlab_trigger_enabled = true needs gitlab_url, gitlab_project_id, gitlab_ref and gitlab_token_secret_name."
  }
}

variable "lambdas" {
  description = "Runtime settings shared by the two Lambda functions."
  type = object({
    runtime              = string
    timeout_seconds      = number
    memory_mb            = number
    reserved_concurrency = number
    log_retention_days   = number
  })

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambdas.runtime)
    error_message = "lambdas.runtime: python3.12 or python3.13."
  }
  validation {
    condition = (
      var.lambdas.timeout_seconds >= 3 && var.lambdas.timeout_seconds <= 900
      && var.lambdas.memory_mb >= 128 && var.lambdas.memory_mb <= 10240
      && var.lambdas.reserved_concurrency >= 1
    )
    error_message = "lambdas: timeout_seconds 3..900, memory_mb 128..10240, reserved_concurrency at least 1."
  }
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653], var.lambdas.log_retention_days)
    error_message = "lambdas.log_retention_days: one of the CloudWatch Logs retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)."
  }
}
