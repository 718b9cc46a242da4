# One variable per top-level key of env_files/<env>.tfvars, the file batchops_core.settings also reads.
# Each variable's description, type and defaults are GENERATED from batchops_core/settings.py (between the
# markers; regenerate with `batchops dev regenerate`), so Terraform and Python share one set of defaults.
# The validation blocks are written here; allowed values and metric threshold rules come from the generated
# locals in derived.tf. Keys that only the pipelines use are declared too, so `-var-file` never warns
# about undeclared variables and a wrong value fails here as well as in Python.

variable "project" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Project name; first part of every resource name."
  type        = string
  # END GENERATED

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.project)) && length(var.project) <= 24
    error_message = "project: a lower-case name of letters, digits and '-' (max 24 characters)."
  }
}

variable "environment" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Environment name; second part of every resource name (lower case; its longest length follows from the AWS name limits of the derived names)."
  type        = string
  # END GENERATED

  validation {
    condition = (can(regex(local.environment_name.pattern, var.environment))
    && length(var.project) + length(var.environment) <= local.environment_name.max_length_with_project)
    error_message = "environment: a lower-case name of letters, digits and '-' starting with a letter; project and environment together at most ${local.environment_name.max_length_with_project} characters (the tightest AWS limit of the names derived from them)."
  }
}

variable "emulated" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "true: the environment runs on the embedded emulator (Terraform state under BATCHOPS_HOME, never an AWS account); left out: true only for the environment named local"
  type        = bool
  default     = false
  # END GENERATED
}

variable "region" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "AWS region of every resource."
  type        = string
  # END GENERATED

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region: an AWS region such as 'us-east-1'."
  }
}

variable "tags" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Tags added to every resource (besides project, environment and managed-by)."
  type        = map(string)
  default     = {}
  # END GENERATED

  validation {
    condition     = alltrue([for key in keys(var.tags) : length(key) <= 128 && !startswith(lower(key), "aws:")])
    error_message = "tags: keys are at most 128 characters and must not start with 'aws:'."
  }
}

variable "storage" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "The data bucket and its encryption key."
  type = object({
    bucket_name                              = optional(string)
    bucket_name_suffix                       = optional(string, "")
    create_bucket                            = optional(bool, true)
    kms_key_arn                              = optional(string, "")
    existing_bucket_kms_key_arn              = optional(string, "")
    existing_bucket_eventbridge_acknowledged = optional(bool, false)
    noncurrent_version_expiration_days       = optional(number, 30)
    force_destroy                            = optional(bool, false)
  })
  default = {}
  # END GENERATED

  validation {
    condition = (
      # null: derived (local.bucket_name in derived.tf)
      var.storage.bucket_name == null
      || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.storage.bucket_name)) && !can(regex("[.][.]", var.storage.bucket_name))
    )
    error_message = "storage.bucket_name: a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')."
  }
  validation {
    condition     = var.storage.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.storage.kms_key_arn))
    error_message = "storage.kms_key_arn: empty (create a key) or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
  validation {
    condition     = var.storage.existing_bucket_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.storage.existing_bucket_kms_key_arn))
    error_message = "storage.existing_bucket_kms_key_arn: empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
  validation {
    condition     = var.storage.create_bucket || var.storage.existing_bucket_eventbridge_acknowledged
    error_message = "storage: create_bucket = false needs existing_bucket_eventbridge_acknowledged = true (enable EventBridge delivery on the bucket first) and existing_bucket_kms_key_arn set when the bucket uses SSE-KMS."
  }
  validation {
    condition     = contains(local.allowed["storage.bucket_name_suffix"], var.storage.bucket_name_suffix)
    error_message = "storage.bucket_name_suffix: one of \"\", account_id, region_account."
  }
  validation {
    condition     = var.storage.noncurrent_version_expiration_days >= 0 && floor(var.storage.noncurrent_version_expiration_days) == var.storage.noncurrent_version_expiration_days
    error_message = "storage.noncurrent_version_expiration_days: a whole number of days (0: no lifecycle rule)."
  }
}

variable "prefixes" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Key prefixes inside the bucket (no leading or trailing slash; none may contain another)."
  type = object({
    training     = optional(string, "data/training")
    inference    = optional(string, "data/inference")
    ground_truth = optional(string, "data/ground-truth")
    outputs      = optional(string, "pipeline-runs")
    code         = optional(string, "pipeline-code")
    results      = optional(string, "data/predictions")
  })
  default = {}
  # END GENERATED

  validation {
    condition     = alltrue([for prefix in values(var.prefixes) : can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", prefix))])
    error_message = "prefixes: every prefix is a key prefix of letters, digits, '_', '.', '-' and '/' (no leading/trailing '/')."
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
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "CSV schema of the training and inference data (used by the pipelines)."
  type = object({
    header     = optional(bool, true)
    record_key = string
    target     = string
    columns = list(object({
      name = string
      type = string
    }))
  })
  # END GENERATED

  validation {
    condition     = alltrue([for column in var.dataset.columns : contains(local.allowed["dataset.columns[*].type"], column.type)])
    error_message = "dataset.columns[*].type: one of ${join(", ", local.allowed["dataset.columns[*].type"])}."
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
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Model quality gates (used by the pipelines and the notification Lambda)."
  type = object({
    algorithm               = optional(string, "xgboost-builtin")
    problem_type            = optional(string)
    metric                  = optional(string, "rmse")
    registration_threshold  = number
    model_quality_threshold = number
    classes                 = optional(list(string), [])
    decision_threshold      = optional(number, 0.5)
    validation_fraction     = optional(number, 0.15)
    test_fraction           = optional(number, 0.15)
    split_seed              = optional(number, 42)
  })
  # END GENERATED

  validation {
    condition     = contains(local.allowed["model.metric"], var.model.metric)
    error_message = "model.metric: one of ${join(", ", local.allowed["model.metric"])}."
  }
  validation {
    condition     = contains(local.allowed["model.algorithm"], var.model.algorithm)
    error_message = "model.algorithm: one of ${join(", ", local.allowed["model.algorithm"])}."
  }
  validation {
    # Left out (null): the metric's problem type, checked in Python (batchops env check) where the registry lives.
    condition     = var.model.problem_type == null || contains(local.allowed["model.problem_type"], coalesce(var.model.problem_type, "-"))
    error_message = "model.problem_type: one of ${join(", ", local.allowed["model.problem_type"])}."
  }
  validation {
    # The metric's threshold rule from the registry, e.g. rmse "> 0", r2 "<= 1".
    condition = !contains(keys(local.threshold_rules), var.model.metric) || alltrue([
      for threshold in [var.model.registration_threshold, var.model.model_quality_threshold] : (
        local.threshold_rules[var.model.metric].op == ">" ? threshold > local.threshold_rules[var.model.metric].bound
        : local.threshold_rules[var.model.metric].op == ">=" ? threshold >= local.threshold_rules[var.model.metric].bound
        : local.threshold_rules[var.model.metric].op == "<" ? threshold < local.threshold_rules[var.model.metric].bound
        : threshold <= local.threshold_rules[var.model.metric].bound
      )
    ])
    error_message = "model: registration_threshold and model_quality_threshold must be ${try(join(" ", values(local.threshold_rules[var.model.metric])), "valid")} for ${var.model.metric}."
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
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Built-in XGBoost algorithm version and hyperparameters (used by the pipelines)."
  type = object({
    framework_version = optional(string, "1.7-1")
    hyperparameters = optional(map(string), {
      objective        = "reg:squarederror"
      eval_metric      = "rmse"
      num_round        = "120"
      max_depth        = "5"
      eta              = "0.1"
      subsample        = "0.8"
      min_child_weight = "2"
    })
  })
  default = {}
  # END GENERATED

  validation {
    condition     = contains(local.allowed["xgboost.framework_version"], var.xgboost.framework_version)
    error_message = "xgboost.framework_version: one of ${join(", ", local.allowed["xgboost.framework_version"])}."
  }
  validation {
    condition     = can(regex("^[1-9][0-9]*$", lookup(var.xgboost.hyperparameters, "num_round", "")))
    error_message = "xgboost.hyperparameters.num_round: required, a positive whole number."
  }
}

variable "script" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Your own training script in a framework container (used when model.algorithm = \"script\"; docs/bring-your-own-model.md)."
  type = object({
    framework         = optional(string, "sklearn")
    framework_version = optional(string, "1.2-1")
    source_dir        = optional(string, "examples/sklearn_model")
    entry_point       = optional(string, "examples/sklearn_model/train.py")
    hyperparameters = optional(map(string), {
      n_estimators  = "200"
      max_depth     = "3"
      learning_rate = "0.1"
    })
    metric_definitions = optional(
      list(object({
        name  = string
        regex = string
      })),
      [
        { name = "validation:rmse", regex = "validation:rmse=([-+0-9.eE]+)" },
      ]
    )
  })
  default = {}
  # END GENERATED

  validation {
    condition     = contains(local.allowed["script.framework"], var.script.framework)
    error_message = "script.framework: one of ${join(", ", local.allowed["script.framework"])}."
  }
}

variable "hpo" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Hyperparameter tuning of the training-with-HPO pipeline."
  type = object({
    strategy          = optional(string, "Random")
    objective_metric  = optional(string, "validation:rmse")
    max_jobs          = optional(number, 4)
    max_parallel_jobs = optional(number, 2)
    ranges = optional(
      list(object({
        name    = string
        type    = string
        min     = number
        max     = number
        scaling = optional(string, "Auto")
      })),
      [
        { name = "max_depth", type = "integer", min = 3.0, max = 8.0, scaling = "Auto" },
        { name = "eta", type = "continuous", min = 0.05, max = 0.3, scaling = "Auto" },
        { name = "min_child_weight", type = "continuous", min = 1.0, max = 6.0, scaling = "Auto" },
      ]
    )
  })
  default = {}
  # END GENERATED

  validation {
    condition = (
      contains(local.allowed["hpo.strategy"], var.hpo.strategy)
      && contains(local.allowed["hpo.objective_metric"], var.hpo.objective_metric)
    )
    error_message = "hpo: strategy is one of ${join(", ", local.allowed["hpo.strategy"])}; objective_metric one of ${join(", ", local.allowed["hpo.objective_metric"])}."
  }
  validation {
    condition     = var.hpo.max_parallel_jobs >= 1 && var.hpo.max_parallel_jobs <= var.hpo.max_jobs
    error_message = "hpo: 1 <= max_parallel_jobs <= max_jobs."
  }
  validation {
    condition = length(var.hpo.ranges) >= 1 && alltrue([
      for range in var.hpo.ranges :
      contains(local.allowed["hpo.ranges[*].type"], range.type) && range.min < range.max
      && contains(local.allowed["hpo.ranges[*].scaling"], range.scaling)
    ])
    error_message = "hpo.ranges: at least one range; type one of ${join(", ", local.allowed["hpo.ranges[*].type"])}, min < max, scaling one of ${join(", ", local.allowed["hpo.ranges[*].scaling"])}."
  }
}

variable "folder_datasets" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Datasets of many files: the trigger file that completes a folder of part files."
  type = object({
    trigger_file = optional(string, "_SUCCESS")
  })
  default = {}
  # END GENERATED

  validation {
    condition = (
      can(regex("^[A-Za-z0-9_.-]+$", var.folder_datasets.trigger_file))
      && !contains([".", ".."], var.folder_datasets.trigger_file)
      && !endswith(lower(var.folder_datasets.trigger_file), ".csv")
      && !endswith(lower(var.folder_datasets.trigger_file), ".csv.gz")
    )
    error_message = "folder_datasets.trigger_file: one file name of letters, digits, '_', '-', '.' (no '*': the rules' wildcard), not ending in .csv or .csv.gz."
  }
}

variable "data_quality" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Data-quality check settings (used by the pipelines)."
  type = object({
    engine                   = optional(string, "builtin")
    on_drift                 = optional(string, "warn")
    comparison_threshold     = optional(number, 0.1)
    comparison_method        = optional(string, "Robust")
    categorical_drift_method = optional(string, "LInfinity")
  })
  default = {}
  # END GENERATED

  validation {
    condition = (
      contains(local.allowed["data_quality.engine"], var.data_quality.engine)
      && contains(local.allowed["data_quality.on_drift"], var.data_quality.on_drift)
      && contains(local.allowed["data_quality.comparison_method"], var.data_quality.comparison_method)
      && contains(local.allowed["data_quality.categorical_drift_method"], var.data_quality.categorical_drift_method)
    )
    error_message = "data_quality: engine, on_drift, comparison_method and categorical_drift_method take one of their listed values (env_files/local.tfvars)."
  }
  validation {
    condition     = var.data_quality.comparison_threshold > 0 && var.data_quality.comparison_threshold <= 1
    error_message = "data_quality.comparison_threshold: a number in (0, 1]."
  }
}

variable "compute" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "SageMaker instance types and counts (used by the pipelines)."
  type = object({
    processing_instance_type  = optional(string, "ml.m5.large")
    processing_instance_count = optional(number, 1)
    training_instance_type    = optional(string, "ml.m5.xlarge")
    training_instance_count   = optional(number, 1)
    transform_instance_type   = optional(string, "ml.m5.large")
    transform_instance_count  = optional(number, 1)
    volume_size_gb            = optional(number, 30)
    max_runtime_seconds       = optional(number, 86400)
  })
  default = {}
  # END GENERATED

  validation {
    condition = alltrue([
      for type in [var.compute.processing_instance_type, var.compute.training_instance_type, var.compute.transform_instance_type] :
      can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", type))
    ])
    error_message = "compute: instance types look like 'ml.m5.large'."
  }
  validation {
    # 100: SageMaker's limit of a processing job's InstanceCount (botocore ProcessingInstanceCount; the settings
    # read it from there).
    condition = (
      var.compute.processing_instance_count >= 1 && var.compute.processing_instance_count <= 100
      && var.compute.training_instance_count >= 1
      && var.compute.transform_instance_count >= 1 && var.compute.volume_size_gb >= 1
      && var.compute.max_runtime_seconds >= 1 && var.compute.max_runtime_seconds <= 432000
    )
    error_message = "compute: processing_instance_count is 1..100 (SageMaker's limit); other counts and volume size are at least 1; max_runtime_seconds is 1..432000."
  }
}

variable "pipelines" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Names of the three SageMaker pipelines, the model package group and the execution role."
  type = object({
    training_name       = optional(string)
    training_hpo_name   = optional(string)
    inference_name      = optional(string)
    model_quality_name  = optional(string)
    model_package_group = optional(string)
    execution_role_arn  = optional(string, "")
  })
  default = {}
  # END GENERATED

  validation {
    # Lower case so EventBridge patterns and SageMaker ARNs agree on the name.
    condition = alltrue([
      for name in [var.pipelines.training_name, var.pipelines.training_hpo_name, var.pipelines.inference_name, var.pipelines.model_package_group] :
      name == null || can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", name)) # null: derived (derived.tf)
    ])
    error_message = "pipelines: names are lower-case letters, digits and '-' (max 63)."
  }
  validation {
    # Given names only (null: derived, distinct by their templates); Python also checks the resolved names.
    condition     = length(distinct(compact([var.pipelines.training_name, var.pipelines.training_hpo_name, var.pipelines.inference_name]))) == length(compact([var.pipelines.training_name, var.pipelines.training_hpo_name, var.pipelines.inference_name]))
    error_message = "pipelines: the three pipeline names must differ."
  }
  validation {
    condition     = var.pipelines.execution_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.pipelines.execution_role_arn))
    error_message = "pipelines.execution_role_arn: empty (create the role) or an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "notifications" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Email recipients, optional Slack webhook secret, and per-step/per-status message rules."
  type = object({
    recipients                = optional(list(string), [])
    slack_webhook_secret_name = optional(string, "")
    rules = optional(
      list(object({
        pipeline = optional(string, "*")
        step     = string
        status   = string
        mute     = optional(bool, false)
        subject  = optional(string, "")
        body     = optional(string, "")
      })),
      [
        { pipeline = "*", step = "DataQualityCheck", status = "Succeeded", mute = false, subject = "[{{ environment }}] data quality report for {{ pipeline }}", body = "" },
        { pipeline = "*", step = "ModelQualityViolated", status = "Failed", mute = false, subject = "[{{ environment }}] model quality below threshold: {{ retraining }}", body = "" },
      ]
    )
  })
  default = {}
  # END GENERATED

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
      contains(local.allowed["notifications.rules[*].status"], rule.status)
    ])
    error_message = "notifications.rules[*].status: one of ${join(", ", local.allowed["notifications.rules[*].status"])}."
  }
}

variable "schedules" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "EventBridge schedules that start a pipeline (only enabled ones are created)."
  type = list(object({
    pipeline   = string
    expression = string
    enabled    = optional(bool, true)
    parameters = optional(map(string), {})
  }))
  default = []
  # END GENERATED

  validation {
    condition     = alltrue([for schedule in var.schedules : contains(local.allowed["schedules[*].pipeline"], schedule.pipeline)])
    error_message = "schedules[*].pipeline: one of ${join(", ", local.allowed["schedules[*].pipeline"])}."
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
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "What happens when a model version is approved: optional GitLab pipeline trigger."
  type = object({
    gitlab_trigger_enabled   = optional(bool, false)
    gitlab_url               = optional(string, "")
    gitlab_project_id        = optional(string, "")
    gitlab_ref               = optional(string, "main")
    gitlab_token_secret_name = optional(string, "")
  })
  default = {}
  # END GENERATED

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
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Runtime settings shared by the two Lambda functions."
  type = object({
    runtime              = optional(string, "python3.12")
    timeout_seconds      = optional(number, 60)
    memory_mb            = optional(number, 256)
    reserved_concurrency = optional(number, 5)
    log_retention_days   = optional(number, 30)
  })
  default = {}
  # END GENERATED

  validation {
    condition     = contains(local.allowed["lambdas.runtime"], var.lambdas.runtime)
    error_message = "lambdas.runtime: one of ${join(", ", local.allowed["lambdas.runtime"])}."
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
    condition     = contains(local.allowed["lambdas.log_retention_days"], var.lambdas.log_retention_days)
    error_message = "lambdas.log_retention_days: one of the CloudWatch Logs retention values (${join(", ", local.allowed["lambdas.log_retention_days"])})."
  }
}

variable "accounts" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "The environment's role among several AWS accounts: standalone (default), a model registry, or a consumer of a registry's models."
  type = object({
    account_id = optional(string, "")
    role       = optional(string, "standalone")
    consumers = optional(
      list(object({
        account_id         = string
        environment        = string
        execution_role_arn = optional(string, "")
      })),
      []
    )
    registry = optional(
      object({
        environment         = optional(string, "")
        account_id          = optional(string, "")
        model_package_group = optional(string, "")
        bucket              = optional(string, "")
        kms_key_arn         = optional(string, "")
        outputs_prefix      = optional(string, "pipeline-runs")
      }),
      {
        environment         = ""
        account_id          = ""
        model_package_group = ""
        bucket              = ""
        kms_key_arn         = ""
        outputs_prefix      = "pipeline-runs"
      }
    )
  })
  default = {}
  # END GENERATED

  # batchops_core/settings.py (Accounts) checks every key with the messages users see; these keep a tfvars file
  # Terraform reads directly from granting nobody or reading from nowhere.
  validation {
    condition     = var.accounts.role != "registry" || length(var.accounts.consumers) > 0
    error_message = "accounts: role = registry needs consumers."
  }
  validation {
    condition = var.accounts.role != "consumer" || alltrue([
      for key in ["account_id", "model_package_group", "bucket", "kms_key_arn"] : var.accounts.registry[key] != ""
    ])
    error_message = "accounts: role = consumer needs registry.account_id, model_package_group, bucket and kms_key_arn."
  }
}

variable "network" {
  # BEGIN GENERATED from batchops_core.settings (batchops dev regenerate): do not edit
  description = "Where SageMaker jobs run (VPC subnets and security groups, network isolation) and the KMS key of their volumes and outputs."
  type = object({
    subnets                         = optional(list(string), [])
    security_group_ids              = optional(list(string), [])
    create_vpc                      = optional(bool, false)
    create_vpc_endpoints            = optional(bool, false)
    network_isolation               = optional(list(string), [])
    encrypt_inter_container_traffic = optional(bool, true)
    job_kms_key_arn                 = optional(string, "")
  })
  default = {}
  # END GENERATED

  # batchops_core/settings.py (Network) checks every key with the messages users see; these keep a tfvars file
  # Terraform reads directly from creating a half-configured network.
  validation {
    condition     = (length(var.network.subnets) == 0) == (length(var.network.security_group_ids) == 0)
    error_message = "network: give both subnets and security_group_ids, or neither."
  }
  validation {
    condition     = !(var.network.create_vpc && length(var.network.subnets) > 0)
    error_message = "network: create_vpc = true makes the subnets and the security group; leave subnets and security_group_ids empty."
  }
  validation {
    condition     = !var.network.create_vpc_endpoints || var.network.create_vpc || length(var.network.subnets) > 0
    error_message = "network: create_vpc_endpoints = true needs subnets and security_group_ids, or create_vpc = true."
  }
}
