locals {
  dead_letter_queue_name = "${var.name_prefix}-events-dlq"
  # EventBridge writes undeliverable events to the queue, only on behalf of this stack's rules.
  dead_letter_queue_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeRulesOfThisStack"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = "arn:${var.partition}:sqs:${var.region}:${var.account_id}:${local.dead_letter_queue_name}"
      Condition = {
        ArnEquals = {
          "aws:SourceArn" = [
            for key in sort(concat(keys(local.pipeline_rules), keys(local.function_rules))) :
            "arn:${var.partition}:events:${var.region}:${var.account_id}:rule/${var.name_prefix}-${key}"
          ]
        }
      }
    }]
  })

  events = var.contracts.events
  # A dataset starts a run when it is complete (batchops_core/datasets.py): a single object ending in .csv, or
  # the trigger file of a folder of .csv.gz parts; the parts themselves match neither filter. EventBridge's
  # wildcard `*` matches any characters, '/' included; prefixes and the trigger name hold no '*' or backslash
  # (settings validation), so nothing needs escaping ("Content filtering in Amazon EventBridge event patterns").
  dataset_patterns = {
    for prefix in [var.training_prefix, var.inference_prefix, var.ground_truth_prefix] : prefix => jsonencode({
      source        = [local.events.s3_source]
      "detail-type" = [local.events.s3_object_created_detail_type]
      detail = {
        bucket = { name = [var.bucket_name] }
        object = { key = [
          { wildcard = "${prefix}/*${var.contracts.datasets.single_object_suffix}" },
          { wildcard = "${prefix}/*/${var.trigger_file}" },
        ] }
      }
    })
  }
  # S3 targets pass the dropped object's location to the pipeline parameters.
  s3_object_parameters = {
    (var.contracts.parameters.input_bucket) = "$.detail.bucket.name"
    (var.contracts.parameters.input_key)    = "$.detail.object.key"
  }

  # EventBridge may start exactly the stack's pipelines. It parks what it cannot deliver in the queue as the
  # events service (the queue's policy and the key's policy allow it), never as this role: no SQS or KMS here.
  pipeline_starter_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartTheStackPipelines"
        Effect   = "Allow"
        Action   = ["sagemaker:StartPipelineExecution"]
        Resource = sort(values(var.pipeline_arns))
      },
    ]
  })

  # Every target gets the same delivery guarantees: retried for an hour, then parked in the DLQ.
  retry = {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  # The statuses for which the notification function can send a message (lambdas/notification/rules.py):
  # final execution statuses and failed steps always, plus the status of every unmuted rule. A muted rule
  # only ever suppresses messages, so its status is not needed. A rule's step pattern matches execution
  # events (step "") only when it is empty or all '*', and step events unless it is empty. A status that is
  # an fnmatch pattern ('*', '?', '[') could match any status, so that kind of event is not filtered (null).
  unmuted_notification_rules = [for rule in var.notification_rules : rule if !rule.mute]
  notification_sources = {
    execution = {
      always = var.contracts.final_execution_statuses
      rules  = [for rule in local.unmuted_notification_rules : rule if can(regex("^\\**$", rule.step))]
    }
    step = {
      always = [var.contracts.failed_status]
      rules  = [for rule in local.unmuted_notification_rules : rule if rule.step != ""]
    }
  }
  notified_statuses = {
    for kind, source in local.notification_sources : kind => (
      anytrue([for rule in source.rules : can(regex("[*?\\[]", rule.status))])
      ? null
      : sort(distinct(concat(source.always, source.rules[*].status)))
    )
  }
  # As JSON text, because a status list and the "any status" filter have different types.
  status_filter_json = {
    for kind, statuses in local.notified_statuses :
    kind => statuses == null ? jsonencode([{ exists = true }]) : jsonencode(statuses)
  }

  # Rules whose target is a SageMaker pipeline. S3 rules pass the dropped object's location; the others
  # pass fixed parameters. Only the deployed pipelines' (var.pipeline_arns: a consumer has no training).
  pipeline_rules = { for key, rule in merge(
    {
      training-data = {
        description = "A .csv object or a folder's ${var.trigger_file} under ${var.training_prefix}/ starts the training pipeline"
        pipeline    = "training"
        pattern     = local.dataset_patterns[var.training_prefix]
        schedule    = null
        parameters  = local.s3_object_parameters
      }
      inference-data = {
        description = "A .csv object or a folder's ${var.trigger_file} under ${var.inference_prefix}/ starts the batch-inference pipeline"
        pipeline    = "inference"
        pattern     = local.dataset_patterns[var.inference_prefix]
        schedule    = null
        parameters  = local.s3_object_parameters
      }
      # Labels dropped after their batch was scored: the model-quality pipeline evaluates the batch's stored
      # predictions (labels dropped before are checked by the batch's own inference run).
      ground-truth-data = {
        description = "A .csv object or a folder's ${var.trigger_file} under ${var.ground_truth_prefix}/ starts the model-quality pipeline"
        pipeline    = "model_quality"
        pattern     = local.dataset_patterns[var.ground_truth_prefix]
        schedule    = null
        parameters  = local.s3_object_parameters
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
  ) : key => rule if contains(keys(var.pipeline_arns), rule.pipeline) }

  # Without the training-with-HPO pipeline (a consumer) nothing retrains here: no retraining rule.
  function_rules = { for key, rule in {
    pipeline-status = {
      description = "Execution and step status changes of the stack's pipelines go to the notification function"
      function    = "notification"
      pattern = jsonencode({
        source        = [local.events.sagemaker_source]
        "detail-type" = [local.events.execution_status_detail_type, local.events.step_status_detail_type]
        detail = merge(
          { pipelineArn = sort(values(var.pipeline_arns)) },
          # Execution events carry only currentPipelineExecutionStatus, step events only currentStepStatus.
          local.notified_statuses.execution == null && local.notified_statuses.step == null ? {} : {
            "$or" = [
              { currentPipelineExecutionStatus = jsondecode(local.status_filter_json.execution) },
              { currentStepStatus = jsondecode(local.status_filter_json.step) },
            ]
          },
        )
      })
    }
    # SageMaker may send one step status change more than once, with different event ids
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html): the
    # function starts the pipeline with a ClientRequestToken derived from the inference execution, so SageMaker
    # starts it at most once per violating execution.
    retrain-on-model-quality = {
      description = "A model-quality violation (${var.contracts.steps.model_quality_violated} failed) of the batch-inference or model-quality pipeline starts training with HPO, once per execution"
      function    = "retrain_trigger"
      pattern = jsonencode({
        source        = [local.events.sagemaker_source]
        "detail-type" = [local.events.step_status_detail_type]
        detail = {
          pipelineArn       = sort([for key in var.contracts.model_quality_pipelines : var.pipeline_arns[key]])
          stepName          = [var.contracts.steps.model_quality_violated]
          currentStepStatus = [var.contracts.failed_status]
        }
      })
    }
    model-approval = {
      description = "Approval decisions in the model package group go to the approval_trigger function"
      function    = "approval_trigger"
      pattern = jsonencode({
        source        = [local.events.sagemaker_source]
        "detail-type" = [local.events.model_package_detail_type]
        detail = {
          ModelPackageGroupName = [var.model_package_group]
          ModelApprovalStatus   = var.contracts.approval_decisions
        }
      })
    }
  } : key => rule if rule.function != "retrain_trigger" || contains(keys(var.pipeline_arns), "training_hpo") }
}

# ------------------------------------------------------------------------------------------- delivery failures

# The rules' and the queue's ARNs are built from their names, so the policy is part of the queue itself: a
# separate aws_sqs_queue_policy would add the provider's propagation wait (about 25 s on create and on
# destroy) after the rules exist, on the apply's critical path.
resource "aws_sqs_queue" "dead_letter" {
  name                      = local.dead_letter_queue_name
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600

  policy = local.dead_letter_queue_policy
}


# ------------------------------------------------------------------------------------------- pipeline starter

resource "aws_iam_role" "pipeline_starter" {
  name        = "${var.name_prefix}-pipeline-starter"
  description = "EventBridge starts the pipelines of ${var.name_prefix}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "events.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "pipeline_starter" {
  name   = "start-pipelines"
  role   = aws_iam_role.pipeline_starter.id
  policy = local.pipeline_starter_policy
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
  role_arn  = aws_iam_role.pipeline_starter.arn

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

  # EventBridge needs the role's permissions from the first matching event on.
  depends_on = [aws_iam_role_policy.pipeline_starter]
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
