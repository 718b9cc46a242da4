locals {
  # SageMaker sends these two detail-types for the pipelines' executions and steps.
  execution_status_change = "SageMaker Model Building Pipeline Execution Status Change"
  step_status_change      = "SageMaker Model Building Pipeline Execution Step Status Change"

  # Every target gets the same delivery guarantees: retried for an hour, then parked in the DLQ.
  retry = {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  # Rules whose target is a SageMaker pipeline. S3 rules pass the dropped object's location; the others
  # pass fixed parameters.
  pipeline_rules = merge(
    {
      training-data = {
        description = "New objects under ${var.training_prefix}/ start the training pipeline"
        pipeline    = "training"
        pattern = jsonencode({
          source        = ["aws.s3"]
          "detail-type" = ["Object Created"]
          detail = {
            bucket = { name = [var.bucket_name] }
            object = { key = [{ prefix = "${var.training_prefix}/" }] }
          }
        })
        schedule   = null
        parameters = { InputBucket = "$.detail.bucket.name", InputKey = "$.detail.object.key" }
      }
      inference-data = {
        description = "New objects under ${var.inference_prefix}/ start the batch-inference pipeline"
        pipeline    = "inference"
        pattern = jsonencode({
          source        = ["aws.s3"]
          "detail-type" = ["Object Created"]
          detail = {
            bucket = { name = [var.bucket_name] }
            object = { key = [{ prefix = "${var.inference_prefix}/" }] }
          }
        })
        schedule   = null
        parameters = { InputBucket = "$.detail.bucket.name", InputKey = "$.detail.object.key" }
      }
      retrain-on-model-quality = {
        description = "A failed ModelQualityCheck of the batch-inference pipeline starts training with HPO"
        pipeline    = "training_hpo"
        pattern = jsonencode({
          source        = ["aws.sagemaker"]
          "detail-type" = [local.step_status_change]
          detail = {
            pipelineArn       = [var.pipeline_arns.inference]
            stepName          = ["ModelQualityCheck"]
            currentStepStatus = ["Failed"]
          }
        })
        schedule   = null
        parameters = { InputBucket = var.retrain_input.bucket, InputKey = var.retrain_input.key }
      }
    },
    {
      for index, schedule in var.schedules : "schedule-${replace(schedule.pipeline, "_", "-")}-${index}" => {
        description = "Scheduled start of the ${schedule.pipeline} pipeline: ${schedule.expression}"
        pipeline    = schedule.pipeline
        pattern     = null
        schedule    = schedule.expression
        parameters  = schedule.parameters
      }
    },
  )

  function_rules = {
    pipeline-status = {
      description = "Execution and step status changes of the three pipelines go to the notification function"
      function    = "notification"
      pattern = jsonencode({
        source        = ["aws.sagemaker"]
        "detail-type" = [local.execution_status_change, local.step_status_change]
        detail        = { pipelineArn = sort(values(var.pipeline_arns)) }
      })
    }
    model-approval = {
      description = "Approval decisions in the model package group go to the approval_trigger function"
      function    = "approval_trigger"
      pattern = jsonencode({
        source        = ["aws.sagemaker"]
        "detail-type" = ["SageMaker Model Package State Change"]
        detail = {
          ModelPackageGroupName = [var.model_package_group]
          ModelApprovalStatus   = ["Approved", "Rejected"]
        }
      })
    }
  }
}

# ------------------------------------------------------------------------------------------- delivery failures

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name_prefix}-events-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
}

# EventBridge writes undeliverable events here, only on behalf of this stack's rules.
resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeRulesOfThisStack"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letter.arn
      Condition = {
        ArnEquals = {
          "aws:SourceArn" = concat(
            [for rule in aws_cloudwatch_event_rule.pipeline : rule.arn],
            [for rule in aws_cloudwatch_event_rule.function : rule.arn],
          )
        }
      }
    }]
  })
}


# ------------------------------------------------------------------------------------------- pipeline rules

resource "aws_cloudwatch_event_rule" "pipeline" {
  for_each = local.pipeline_rules

  name                = "${var.name_prefix}-${each.key}"
  description         = each.value.description
  event_pattern       = each.value.pattern
  schedule_expression = each.value.schedule
}

resource "aws_cloudwatch_event_target" "pipeline" {
  for_each = local.pipeline_rules

  rule      = aws_cloudwatch_event_rule.pipeline[each.key].name
  target_id = "start-${replace(each.value.pipeline, "_", "-")}"
  arn       = var.pipeline_arns[each.value.pipeline]
  role_arn  = var.pipeline_starter_role_arn

  sagemaker_pipeline_target {
    dynamic "pipeline_parameter_list" {
      for_each = each.value.parameters
      content {
        name  = pipeline_parameter_list.key
        value = pipeline_parameter_list.value
      }
    }
  }

  retry_policy {
    maximum_event_age_in_seconds = local.retry.maximum_event_age_in_seconds
    maximum_retry_attempts       = local.retry.maximum_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

# ------------------------------------------------------------------------------------------- function rules

resource "aws_cloudwatch_event_rule" "function" {
  for_each = local.function_rules

  name          = "${var.name_prefix}-${each.key}"
  description   = each.value.description
  event_pattern = each.value.pattern
}

resource "aws_cloudwatch_event_target" "function" {
  for_each = local.function_rules

  rule      = aws_cloudwatch_event_rule.function[each.key].name
  target_id = "invoke-${replace(each.value.function, "_", "-")}"
  arn       = var.function_arns[each.value.function]

  retry_policy {
    maximum_event_age_in_seconds = local.retry.maximum_event_age_in_seconds
    maximum_retry_attempts       = local.retry.maximum_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "function" {
  for_each = local.function_rules

  statement_id  = "AllowEventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = var.function_arns[each.value.function]
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.function[each.key].arn
}
