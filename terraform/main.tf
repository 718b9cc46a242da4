data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name_prefix = "${var.project}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition

  # Pipelines are upserted by the SageMaker builders, not by Terraform; their ARNs are known from the names.
  pipeline_names = {
    training     = var.pipelines.training_name
    training_hpo = var.pipelines.training_hpo_name
    inference    = var.pipelines.inference_name
  }
  pipeline_arns = {
    for key, name in local.pipeline_names : key => "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:pipeline/${name}"
  }

  lambda_package_dir = "${path.root}/build/lambda"

  # Lambda environment per docs/architecture.md (PROJECT, ENVIRONMENT, SNS_TOPIC_ARN, DEDUP_TABLE and
  # ACTIVE_MODEL_PARAMETER are added by modules/lambdas).
  function_environment = {
    notification = {
      NOTIFICATION_RULES        = jsonencode(var.notifications.rules)
      SLACK_WEBHOOK_SECRET_NAME = var.notifications.slack_webhook_secret_name
      MODEL_METRIC              = var.model.metric
      REGISTRATION_THRESHOLD    = tostring(var.model.registration_threshold)
      MODEL_QUALITY_THRESHOLD   = tostring(var.model.model_quality_threshold)
    }
    approval_trigger = {
      MODEL_PACKAGE_GROUP      = var.pipelines.model_package_group
      INFERENCE_PIPELINE_NAME  = var.pipelines.inference_name
      GITLAB_TRIGGER_ENABLED   = tostring(var.approval.gitlab_trigger_enabled)
      GITLAB_URL               = var.approval.gitlab_url
      GITLAB_PROJECT_ID        = var.approval.gitlab_project_id
      GITLAB_REF               = var.approval.gitlab_ref
      GITLAB_TOKEN_SECRET_NAME = var.approval.gitlab_token_secret_name
    }
  }
  function_secrets = {
    notification     = compact([var.notifications.slack_webhook_secret_name])
    approval_trigger = compact([var.approval.gitlab_token_secret_name])
  }
}

module "storage" {
  source = "./modules/storage"

  name_prefix                        = local.name_prefix
  bucket_name                        = var.storage.bucket_name
  create_bucket                      = var.storage.create_bucket
  kms_key_arn                        = var.storage.kms_key_arn
  noncurrent_version_expiration_days = var.storage.noncurrent_version_expiration_days
  force_destroy                      = var.storage.force_destroy
  account_id                         = local.account_id
  partition                          = local.partition
  region                             = var.region
}

module "notifications" {
  source = "./modules/notifications"

  name_prefix = local.name_prefix
  kms_key_arn = module.storage.kms_key_arn
  recipients  = var.notifications.recipients
}

module "lambdas" {
  source = "./modules/lambdas"

  name_prefix          = local.name_prefix
  project              = var.project
  environment          = var.environment
  package_dir          = local.lambda_package_dir
  settings             = var.lambdas
  role_arns            = module.iam.lambda_role_arns
  kms_key_arn          = module.storage.kms_key_arn
  topic_arn            = module.notifications.topic_arn
  function_environment = local.function_environment
}

module "iam" {
  source = "./modules/iam"

  name_prefix                  = local.name_prefix
  account_id                   = local.account_id
  region                       = var.region
  partition                    = local.partition
  bucket_arn                   = module.storage.bucket_arn
  outputs_prefix               = var.prefixes.outputs
  kms_key_arn                  = module.storage.kms_key_arn
  topic_arn                    = module.notifications.topic_arn
  pipeline_arns                = local.pipeline_arns
  model_package_group          = var.pipelines.model_package_group
  events_dead_letter_queue_arn = module.events.dead_letter_queue_arn
  dedup_table_arn              = module.lambdas.dedup_table_arn
  active_model_parameter_arn   = module.lambdas.active_model_parameter_arn
  execution_role_arn           = var.pipelines.execution_role_arn
  functions = {
    for key, name in module.lambdas.function_names_planned : key => {
      function_name         = name
      log_group_arn         = module.lambdas.log_group_arns[key]
      dead_letter_queue_arn = module.lambdas.dead_letter_queue_arns[key]
      secret_names          = local.function_secrets[key]
    }
  }
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
  pipeline_arns       = local.pipeline_arns
  model_package_group = var.pipelines.model_package_group
  retrain_input = {
    bucket = module.storage.bucket_name
    key    = "${var.prefixes.training}/"
  }
  function_arns             = module.lambdas.function_arns
  pipeline_starter_role_arn = module.iam.pipeline_starter_role_arn
  kms_key_arn               = module.storage.kms_key_arn
  schedules = [
    for schedule in var.schedules : {
      pipeline   = schedule.pipeline
      expression = schedule.expression
      parameters = schedule.parameters
    } if schedule.enabled
  ]
}

resource "aws_sagemaker_model_package_group" "models" {
  model_package_group_name        = var.pipelines.model_package_group
  model_package_group_description = "Model versions of ${local.name_prefix}, registered by the training pipelines"
}
