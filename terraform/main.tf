data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name_prefix = "${var.project}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition

  # Names shared with the pipelines and the Lambdas, generated from batchops_core/contracts.py.
  contracts = jsondecode(file("${path.module}/contracts.json"))
  shared_names = {
    for key, template in {
      active_model_parameter = local.contracts.active_model_parameter_template
      dedup_table            = local.contracts.dedup_table_template
    } : key => replace(replace(template, "{project}", var.project), "{environment}", var.environment)
  }
  # contracts.json lists the statuses without naming them: index() fails the plan if one is no longer listed.
  step_failed_status = local.contracts.step_statuses[index(local.contracts.step_statuses, "Failed")]
  approval_decisions = [
    for status in ["Approved", "Rejected"] :
    local.contracts.model_approval_statuses[index(local.contracts.model_approval_statuses, status)]
  ]

  # Pipelines are upserted by the SageMaker builders, not by Terraform; their ARNs are known from the names
  # (local.pipeline_names: derived.tf). A consumer trains nothing: no training pipeline, so no rule or grant
  # starts one (Settings.pipeline_keys).
  pipeline_arns = {
    for key, name in local.pipeline_names : key => "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:pipeline/${name}"
    if var.accounts.role != "consumer" || !contains(local.contracts.training_pipelines, key)
  }

  lambda_package_dir = "${path.root}/build/lambda"

  # Several accounts (accounts.role): a registry grants its consumers' execution roles read access to what a
  # model version refers to (contracts.json model_version_outputs, under its training pipelines' outputs); a
  # consumer's role may read the same from its registry's account.
  consumer_role_arns = var.accounts.role != "registry" ? [] : [
    for consumer in var.accounts.consumers : consumer.execution_role_arn != "" ? consumer.execution_role_arn : join("", [
      "arn:${local.partition}:iam::${consumer.account_id}:role/",
      replace(replace(local.contracts.execution_role_template, "{project}", var.project), "{environment}", consumer.environment),
    ])
  ]
  model_version_key_patterns = flatten([
    for kind in ["training", "training_hpo"] : [
      for output in local.contracts.model_version_outputs : "${var.prefixes.outputs}/${local.pipeline_names[kind]}/*/${output.step}/${output.output}/"
      if contains(local.contracts.pipeline_steps[kind], output.step)
    ]
  ])
  registry = var.accounts.registry
  registry_source = var.accounts.role != "consumer" ? null : {
    model_packages_arn = "arn:${local.partition}:sagemaker:${var.region}:${local.registry.account_id}:model-package/${lower(local.registry.model_package_group)}/*"
    bucket_arn         = "arn:${local.partition}:s3:::${local.registry.bucket}"
    # The registry's pipeline names are its own: any pipeline, only a model version's outputs.
    key_patterns = distinct([for output in local.contracts.model_version_outputs : "${local.registry.outputs_prefix}/*/${output.step}/${output.output}/"])
    kms_key_arn  = local.registry.kms_key_arn
  }

  # Lambda environment per docs/architecture.md (PROJECT, ENVIRONMENT, SNS_TOPIC_ARN, DEDUP_TABLE and
  # ACTIVE_MODEL_PARAMETER are added by modules/lambdas).
  # The notification rules and their templates go to an S3 object (modules/lambdas), not into the
  # environment: Lambda allows 4 KB for all variables together.
  function_environment = {
    # A consumer's emails name the registry environment that retrains (contracts.retraining); empty: here.
    notification = {
      SLACK_WEBHOOK_SECRET_NAME                        = var.notifications.slack_webhook_secret_name
      (local.contracts.registry_variables.environment) = var.accounts.role == "consumer" ? local.registry.environment : ""
      (local.contracts.registry_variables.account_id)  = var.accounts.role == "consumer" ? local.registry.account_id : ""
    }
    approval_trigger = {
      MODEL_PACKAGE_GROUP      = local.model_package_group_name
      INFERENCE_PIPELINE_NAME  = local.pipeline_names.inference
      GITLAB_TRIGGER_ENABLED   = tostring(var.approval.gitlab_trigger_enabled)
      GITLAB_URL               = var.approval.gitlab_url
      GITLAB_PROJECT_ID        = var.approval.gitlab_project_id
      GITLAB_REF               = var.approval.gitlab_ref
      GITLAB_TOKEN_SECRET_NAME = var.approval.gitlab_token_secret_name
    }
    # What the retraining rule passed to the pipeline target before it went through the function.
    retrain_trigger = {
      RETRAIN_PIPELINE_NAME = local.pipeline_names.training_hpo
      RETRAIN_PARAMETERS = jsonencode({
        (local.contracts.parameters.input_bucket) = local.bucket_name
        (local.contracts.parameters.input_key)    = "${var.prefixes.training}/"
      })
    }
  }
}

module "storage" {
  source = "./modules/storage"

  name_prefix                        = local.name_prefix
  bucket_name                        = local.bucket_name
  create_bucket                      = var.storage.create_bucket
  kms_key_arn                        = var.storage.kms_key_arn
  existing_bucket_kms_key_arn        = var.storage.existing_bucket_kms_key_arn
  noncurrent_version_expiration_days = var.storage.noncurrent_version_expiration_days
  force_destroy                      = var.storage.force_destroy
  account_id                         = local.account_id
  partition                          = local.partition
  region                             = var.region
  consumer_reads = {
    role_arns    = local.consumer_role_arns
    key_patterns = length(local.consumer_role_arns) > 0 ? local.model_version_key_patterns : []
  }
}

module "notifications" {
  source = "./modules/notifications"

  name_prefix = local.name_prefix
  kms_key_arn = module.storage.kms_key_arn
  recipients  = var.notifications.recipients
}

module "lambdas" {
  source = "./modules/lambdas"

  name_prefix = local.name_prefix
  project     = var.project
  environment = var.environment
  account_id  = local.account_id
  region      = var.region
  partition   = local.partition
  package_dir = local.lambda_package_dir
  packages = {
    bucket      = module.storage.bucket_name
    key_prefix  = "${var.prefixes.code}/lambda-packages"
    kms_key_arn = module.storage.bucket_kms_key_arn
  }
  settings             = var.lambdas
  kms_key_arn          = module.storage.kms_key_arn
  topic_arn            = module.notifications.topic_arn
  function_environment = local.function_environment
  secret_names = {
    notification     = compact([var.notifications.slack_webhook_secret_name])
    approval_trigger = compact([var.approval.gitlab_token_secret_name])
    retrain_trigger  = []
  }
  notification_rules = {
    document   = jsonencode(var.notifications.rules)
    bucket     = module.storage.bucket_name
    key_prefix = "${var.prefixes.code}/lambda-config"
  }
  data_kms_key_arns        = module.storage.data_kms_key_arns
  dedup_table_name         = local.shared_names.dedup_table
  active_model_parameter   = module.sagemaker.active_model_parameter
  model_package_group_arns = module.sagemaker.model_package_group_arns
  pipeline_arns            = local.pipeline_arns
  retrain_pipeline_arn     = lookup(local.pipeline_arns, "training_hpo", null)
  reports = {
    bucket_arn = module.storage.bucket_arn
    prefix     = var.prefixes.outputs
  }
}

module "sagemaker" {
  source = "./modules/sagemaker"

  name_prefix              = local.name_prefix
  account_id               = local.account_id
  region                   = var.region
  partition                = local.partition
  model_package_group_name = local.model_package_group_name
  active_model_parameter = {
    name          = local.shared_names.active_model_parameter
    initial_value = local.contracts.active_model_none
  }
  execution_role_arn = var.pipelines.execution_role_arn
  bucket_arn         = module.storage.bucket_arn
  data_kms_key_arns  = compact(distinct(concat(module.storage.data_kms_key_arns, [var.network.job_kms_key_arn])))
  outputs_prefix     = var.prefixes.outputs
  results_prefix     = var.prefixes.results
  jobs_in_vpc        = var.network.create_vpc || length(var.network.subnets) > 0
  consumer_role_arns = local.consumer_role_arns
  registry_source    = local.registry_source
  trains             = var.accounts.role != "consumer"
}

module "network" {
  source = "./modules/network"

  name_prefix        = local.name_prefix
  region             = var.region
  create_vpc         = var.network.create_vpc
  create_endpoints   = var.network.create_vpc_endpoints
  subnet_ids         = var.network.subnets
  security_group_ids = var.network.security_group_ids
  job_network_tag    = local.contracts.job_network_tag
}

module "events" {
  source = "./modules/events"

  name_prefix         = local.name_prefix
  account_id          = local.account_id
  region              = var.region
  partition           = local.partition
  notification_rules  = var.notifications.rules
  bucket_name         = module.storage.bucket_name
  training_prefix     = var.prefixes.training
  inference_prefix    = var.prefixes.inference
  ground_truth_prefix = var.prefixes.ground_truth
  trigger_file        = var.folder_datasets.trigger_file
  pipeline_arns       = local.pipeline_arns
  model_package_group = module.sagemaker.model_package_group_name
  function_arns       = module.lambdas.function_arns
  kms_key_arn         = module.storage.kms_key_arn
  schedules = [
    for schedule in var.schedules : {
      pipeline   = schedule.pipeline
      expression = schedule.expression
      parameters = schedule.parameters
    } if schedule.enabled
  ]
  contracts = merge(local.contracts, {
    failed_status      = local.step_failed_status
    approval_decisions = local.approval_decisions
  })
}

# ------------------------------------------------------------------------------------------- state moves

# The stack's key is no longer optional (a supplied key encrypts the bucket only).
moved {
  from = module.storage.aws_kms_key.data[0]
  to   = module.storage.aws_kms_key.data
}

moved {
  from = module.storage.aws_kms_alias.data[0]
  to   = module.storage.aws_kms_alias.data
}

# The former notification resource also managed existing buckets: forgotten, not destroyed (destroying it would
# empty an existing bucket's notification configuration). A created bucket's is taken over by .created[0].
removed {
  from = module.storage.aws_s3_bucket_notification.data

  lifecycle {
    destroy = false
  }
}

# The retraining rule now invokes the retrain_trigger function (which deduplicates) instead of the pipeline.
moved {
  from = module.events.aws_cloudwatch_event_rule.pipeline["retrain-on-model-quality"]
  to   = module.events.aws_cloudwatch_event_rule.function["retrain-on-model-quality"]
}

# Each module owns its IAM now (the former modules/iam hub and the root's model package group moved into the
# modules that use them): existing states move their objects instead of destroying and recreating them.
moved {
  from = module.iam.aws_iam_role.pipeline_starter
  to   = module.events.aws_iam_role.pipeline_starter
}

moved {
  from = module.iam.aws_iam_role_policy.pipeline_starter
  to   = module.events.aws_iam_role_policy.pipeline_starter
}

moved {
  from = module.iam.aws_iam_role.lambda
  to   = module.lambdas.aws_iam_role.function
}

moved {
  from = module.iam.aws_iam_role_policy.lambda
  to   = module.lambdas.aws_iam_role_policy.function
}

moved {
  from = module.iam.aws_iam_role.sagemaker_execution
  to   = module.sagemaker.aws_iam_role.execution
}

moved {
  from = module.iam.aws_iam_role_policy.sagemaker_execution
  to   = module.sagemaker.aws_iam_role_policy.execution
}

moved {
  from = aws_sagemaker_model_package_group.models
  to   = module.sagemaker.aws_sagemaker_model_package_group.models
}

moved {
  from = module.lambdas.aws_ssm_parameter.active_model
  to   = module.sagemaker.aws_ssm_parameter.active_model
}
