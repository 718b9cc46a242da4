locals {
  # Function key (as in docs/architecture.md and the zip names) -> deployed name.
  functions = {
    notification     = "${var.name_prefix}-notification"
    approval_trigger = "${var.name_prefix}-approval-trigger"
  }
  active_model_parameter_name = "/${var.project}/${var.environment}/active-model-package-arn"
  common_environment = {
    PROJECT       = var.project
    ENVIRONMENT   = var.environment
    SNS_TOPIC_ARN = var.topic_arn
    DEDUP_TABLE   = aws_dynamodb_table.event_dedup.name
  }
  own_environment = {
    notification     = {}
    approval_trigger = { ACTIVE_MODEL_PARAMETER = aws_ssm_parameter.active_model.name }
  }
}

# ------------------------------------------------------------------------------------------- shared state

# Both functions claim each EventBridge event id here with a conditional put, so a duplicate delivery
# (SageMaker may send several events for one change) is processed once. Items expire through TTL.
resource "aws_dynamodb_table" "event_dedup" {
  name         = "${var.name_prefix}-event-dedup"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "event_id"

  attribute {
    name = "event_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

# The active model pointer: written by the approval_trigger function, read by the inference ResolveModel
# step. Terraform only creates it; later applies leave the value the function wrote.
resource "aws_ssm_parameter" "active_model" {
  #checkov:skip=CKV2_AWS_34:The value is a model package ARN, not a secret; the pipelines read it as a String.
  name        = local.active_model_parameter_name
  description = "ARN of the model package version the batch-inference pipeline uses ('none': latest approved)"
  type        = "String"
  value       = "none"

  lifecycle {
    ignore_changes = [value]
  }
}

# ------------------------------------------------------------------------------------------- functions

# Failed asynchronous invocations (EventBridge invokes asynchronously) land here after Lambda's own retries
# instead of vanishing.
resource "aws_sqs_queue" "dead_letter" {
  for_each = local.functions

  name                      = "${each.value}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_338:Retention is lambdas.log_retention_days from the env file; one year is not needed for alert routing logs.
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "function" {
  for_each = local.functions

  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs and an optional GitLab URL; the env file configures no VPC.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to an SQS on-failure destination (aws_lambda_function_event_invoke_config below), which records more context than a function DLQ.
  #checkov:skip=CKV_AWS_272:The zips are built deterministically from the repository in CI; code signing needs an AWS Signer profile per account.
  function_name                  = each.value
  description                    = "batchops ${each.key} (${var.name_prefix})"
  role                           = var.role_arns[each.key]
  runtime                        = var.settings.runtime
  handler                        = "handler.handler"
  filename                       = "${var.package_dir}/${each.key}.zip"
  source_code_hash               = filebase64sha256("${var.package_dir}/${each.key}.zip")
  timeout                        = var.settings.timeout_seconds
  memory_size                    = var.settings.memory_mb
  reserved_concurrent_executions = var.settings.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(local.common_environment, local.own_environment[each.key], var.function_environment[each.key])
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.function]
}

resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = local.functions

  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter[each.key].arn
    }
  }
}
