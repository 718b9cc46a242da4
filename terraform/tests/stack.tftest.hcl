# Unit tests of the whole stack with a mocked AWS provider: no account, no emulator.
# Run with the environment file, as batchops.terraform does:
#   terraform test -var-file=../env_files/local.tfvars
# Mocked computed strings are random; every ARN that flows into an ARN-validated argument gets an
# ARN-shaped default here.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock-bucket" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:mock-topic" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock-role" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:mock-queue"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:mock-function" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/mock-rule" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/mock" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/mock-table" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:us-east-1:123456789012:parameter/mock" }
  }
  mock_resource "aws_sagemaker_model_package_group" {
    defaults = { arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/mock" }
  }
}

variables {
  pipeline_arn_prefix = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/"
}

# One apply of the local env file, checked from several sides (each apply of the mocked stack costs
# seconds, so they share it).
run "local_env_file" {
  command = apply

  # --- data drops start the pipelines with the object location

  assert {
    condition = alltrue([
      for key, prefix in { training-data = "data/training/", inference-data = "data/inference/" } :
      jsondecode(output.event_rules[key].event_pattern).source == ["aws.s3"]
      && jsondecode(output.event_rules[key].event_pattern)["detail-type"] == ["Object Created"]
      && jsondecode(output.event_rules[key].event_pattern).detail.bucket.name == ["abalone-local-data"]
      && jsondecode(output.event_rules[key].event_pattern).detail.object.key == [{ prefix = prefix }]
    ])
    error_message = "S3 rules must match Object Created in the data bucket under '<prefix>/'"
  }

  assert {
    condition = (
      output.event_rules["training-data"].target_arn == "${var.pipeline_arn_prefix}abalone-local-training"
      && output.event_rules["inference-data"].target_arn == "${var.pipeline_arn_prefix}abalone-local-inference"
    )
    error_message = "S3 rules must start the training and the inference pipeline respectively"
  }

  assert {
    condition = alltrue([
      for key in ["training-data", "inference-data"] :
      output.event_rules[key].pipeline_parameters == { InputBucket = "$.detail.bucket.name", InputKey = "$.detail.object.key" }
    ])
    error_message = "S3 targets must pass InputBucket/InputKey from the event"
  }

  # --- status changes of the three pipelines go to the notification function

  assert {
    condition = (
      jsondecode(output.event_rules["pipeline-status"].event_pattern).source == ["aws.sagemaker"]
      && toset(jsondecode(output.event_rules["pipeline-status"].event_pattern)["detail-type"]) == toset([
        "SageMaker Model Building Pipeline Execution Status Change",
        "SageMaker Model Building Pipeline Execution Step Status Change",
      ])
    )
    error_message = "the status rule must match execution and step status changes from SageMaker"
  }

  assert {
    condition = toset(jsondecode(output.event_rules["pipeline-status"].event_pattern).detail.pipelineArn) == toset([
      "${var.pipeline_arn_prefix}abalone-local-training",
      "${var.pipeline_arn_prefix}abalone-local-training-hpo",
      "${var.pipeline_arn_prefix}abalone-local-inference",
    ])
    error_message = "the status rule must be limited to exactly the three pipelines of the environment"
  }

  # The local rules select DataQualityCheck Succeeded and ModelQualityCheck Failed besides the defaults
  # (final execution statuses, failed steps): Starting/Executing/Stopping of steps and Executing/Stopping of
  # executions can never produce a message, so they are not forwarded.
  assert {
    condition = (
      jsonencode(output.notified_statuses) == jsonencode({ execution = ["Failed", "Stopped", "Succeeded"], step = ["Failed", "Succeeded"] })
      && jsonencode(jsondecode(output.event_rules["pipeline-status"].event_pattern).detail["$or"]) == jsonencode([
        { currentPipelineExecutionStatus = ["Failed", "Stopped", "Succeeded"] },
        { currentStepStatus = ["Failed", "Succeeded"] },
      ])
    )
    error_message = "the status rule must forward exactly the statuses the notification rules can send"
  }

  assert {
    condition = (
      jsondecode(output.policy_documents.events_dead_letter_queue).Statement[0].Resource == "arn:aws:sqs:us-east-1:123456789012:abalone-local-events-dlq"
      && toset(jsondecode(output.policy_documents.events_dead_letter_queue).Statement[0].Condition.ArnEquals["aws:SourceArn"]) == toset([
        for name in values(output.rule_names) : "arn:aws:events:us-east-1:123456789012:rule/${name}"
      ])
    )
    error_message = "only this stack's rules may send to the events dead-letter queue, and to no other queue"
  }

  assert {
    condition     = output.event_rules["pipeline-status"].target_arn == module.lambdas.function_arns.notification
    error_message = "status changes must be delivered to the notification function"
  }

  # --- approval decisions of this group go to the approval trigger

  assert {
    condition = (
      jsondecode(output.event_rules["model-approval"].event_pattern)["detail-type"] == ["SageMaker Model Package State Change"]
      && jsondecode(output.event_rules["model-approval"].event_pattern).detail.ModelPackageGroupName == ["abalone-local-models"]
      && jsondecode(output.event_rules["model-approval"].event_pattern).detail.ModelApprovalStatus == ["Approved", "Rejected"]
    )
    error_message = "the approval rule must match Approved/Rejected decisions of this environment's group only"
  }

  assert {
    condition     = output.event_rules["model-approval"].target_arn == module.lambdas.function_arns.approval_trigger
    error_message = "approval decisions must be delivered to the approval_trigger function"
  }

  # --- a model-quality violation starts training with hpo

  assert {
    condition = (
      jsondecode(output.event_rules["retrain-on-model-quality"].event_pattern)["detail-type"] == ["SageMaker Model Building Pipeline Execution Step Status Change"]
      && jsondecode(output.event_rules["retrain-on-model-quality"].event_pattern).detail == {
        pipelineArn       = ["${var.pipeline_arn_prefix}abalone-local-inference"]
        stepName          = [local.contracts.steps.model_quality_violated]
        currentStepStatus = ["Failed"]
      }
    )
    error_message = "the retraining rule must match only a Failed ModelQualityViolated step (the Fail step of a genuine violation) of the inference pipeline"
  }

  assert {
    condition = (
      output.event_rules["retrain-on-model-quality"].target_arn == "${var.pipeline_arn_prefix}abalone-local-training-hpo"
      && output.event_rules["retrain-on-model-quality"].pipeline_parameters == { InputBucket = "abalone-local-data", InputKey = "data/training/" }
    )
    error_message = "retraining must start the training-with-HPO pipeline on the configured training data"
  }

  # --- every target is retried and dead lettered

  assert {
    condition = alltrue([
      for rule in values(output.event_rules) :
      rule.retry_policy.maximum_retry_attempts > 0 && rule.retry_policy.maximum_event_age_in_seconds > 0
      && rule.dead_letter_arn != ""
    ])
    error_message = "every EventBridge target needs a retry policy and a dead-letter queue"
  }

  assert {
    condition = alltrue([
      for rule in values(output.event_rules) :
      rule.target_role_arn == output.pipeline_starter_role_arn if startswith(rule.target_arn, "arn:aws:sagemaker:")
    ])
    error_message = "pipeline targets must use the pipeline starter role"
  }

  assert {
    condition     = length([for rule in values(output.event_rules) : rule if rule.schedule_expression != null && rule.schedule_expression != ""]) == 0
    error_message = "the local env file has no enabled schedule, so no schedule rule may exist"
  }

  # --- no policy grants wildcard actions

  assert {
    condition = alltrue(flatten([
      for name, document in output.policy_documents : [
        for statement in jsondecode(document).Statement : [
          for action in flatten([statement.Action]) : action != "*" && !endswith(action, ":*")
        ] if statement.Effect == "Allow"
      ]
    ]))
    error_message = "no Allow statement may grant '*' or '<service>:*'"
  }

  assert {
    condition = alltrue(flatten([
      for name, document in output.policy_documents : [
        for statement in jsondecode(document).Statement : !can(statement.NotAction)
      ]
    ]))
    error_message = "NotAction is not used: it grants everything not listed"
  }

  assert {
    condition = toset(flatten([
      for statement in jsondecode(output.policy_documents.pipeline_starter).Statement :
      statement.Resource if contains(flatten([statement.Action]), "sagemaker:StartPipelineExecution")
    ])) == toset(values(output.pipeline_arns))
    error_message = "EventBridge may start exactly the three pipelines"
  }

  assert {
    condition = alltrue([
      for key in ["lambda_notification", "lambda_approval_trigger", "pipeline_starter", "sagemaker_execution", "kms_key", "bucket"] :
      contains(keys(output.policy_documents), key)
    ])
    error_message = "every role policy, the key policy and the bucket policy must be reviewed here"
  }

  # Resource "*" only where the service has no resource-level permissions (the key policy's "*" means the key).
  assert {
    condition = toset(flatten([
      for name, document in output.policy_documents : [
        for statement in jsondecode(document).Statement :
        flatten([statement.Action]) if statement.Effect == "Allow" && contains(flatten([statement.Resource]), "*")
      ] if name != "kms_key"
      ])) == toset([
      "xray:PutTraceSegments", "xray:PutTelemetryRecords", "sagemaker:ListModelPackages", "ecr:GetAuthorizationToken",
      "cloudwatch:PutMetricData",
    ])
    error_message = "only X-Ray, ListModelPackages, the ECR token and CloudWatch metrics may be granted on '*'"
  }

  # The notification function reads a step's job (where its outputs are), the step result (result.json) and
  # reports under the outputs prefix, and the steps of this stack's executions; nothing else of SageMaker or S3.
  assert {
    condition = toset(flatten([
      for statement in jsondecode(output.policy_documents.lambda_notification).Statement : [
        for pair in setproduct(flatten([statement.Action]), flatten([statement.Resource])) : join(" ", pair)
      ] if length([for action in flatten([statement.Action]) : action if startswith(action, "sagemaker:") || startswith(action, "s3:")]) > 0
      ])) == toset(concat(
      [
        for pair in setproduct(
          ["sagemaker:ListPipelineExecutionSteps", "sagemaker:DescribePipelineExecution"],
          ["abalone-local-training", "abalone-local-training-hpo", "abalone-local-inference"],
        ) : "${pair[0]} ${var.pipeline_arn_prefix}${pair[1]}/execution/*"
      ],
      [
        "s3:GetObject arn:aws:s3:::mock-bucket/pipeline-runs/*",
        "sagemaker:DescribeProcessingJob arn:aws:sagemaker:us-east-1:123456789012:processing-job/*",
      ],
    ))
    error_message = "the notification function may read exactly its executions' steps, processing jobs and objects under the outputs prefix"
  }

  # --- names shared with the lambdas and pipelines

  assert {
    condition = (
      output.active_model_parameter_name == "/abalone/local/active-model-package-arn"
      && output.dedup_table_name == "abalone-local-event-dedup"
      && output.model_package_group_name == "abalone-local-models"
      && output.lambda_function_names == { notification = "abalone-local-notification", approval_trigger = "abalone-local-approval-trigger" }
    )
    error_message = "names fixed in docs/architecture.md changed"
  }

  assert {
    condition     = output.pipeline_role_arn == "arn:aws:iam::123456789012:role/mock-role"
    error_message = "with pipelines.execution_role_arn empty, the created SageMaker execution role is the pipeline role"
  }
}

run "enabled_schedules_start_their_pipeline_with_parameters" {
  command = apply

  variables {
    schedules = [
      { pipeline = "training_hpo", expression = "cron(0 3 ? * SUN *)", enabled = true, parameters = { InputKey = "data/training/weekly/" } },
      { pipeline = "inference", expression = "rate(1 day)", enabled = false, parameters = {} },
    ]
  }

  assert {
    condition = (
      output.event_rules["schedule-training-hpo-0"].schedule_expression == "cron(0 3 ? * SUN *)"
      && output.event_rules["schedule-training-hpo-0"].target_arn == "${var.pipeline_arn_prefix}abalone-local-training-hpo"
      && output.event_rules["schedule-training-hpo-0"].pipeline_parameters == { InputKey = "data/training/weekly/" }
    )
    error_message = "an enabled schedule must start its pipeline with its parameters"
  }

  assert {
    condition     = length([for key in keys(output.event_rules) : key if startswith(key, "schedule-")]) == 1
    error_message = "disabled schedules must not create rules"
  }
}

# Which statuses reach the notification function follows the rules: a wildcard status (any fnmatch pattern)
# lifts the filter for the event kinds its step pattern covers; a muted rule adds nothing; step "*" covers
# execution events too, step "" only them.
run "notification_filter_follows_the_rules" {
  command = plan

  variables {
    notifications = {
      recipients                = ["ml-team@example.com"]
      slack_webhook_secret_name = ""
      rules = [
        { pipeline = "*", step = "Train", status = "*", mute = false, subject = "", body = "" },
        { pipeline = "*", step = "*", status = "Executing", mute = true, subject = "", body = "" },
        { pipeline = "*", step = "", status = "Stopping", mute = false, subject = "", body = "" },
      ]
    }
  }

  assert {
    condition = (
      jsonencode(output.notified_statuses) == jsonencode({ execution = ["Failed", "Stopped", "Stopping", "Succeeded"], step = null })
      && jsonencode(jsondecode(output.event_rules["pipeline-status"].event_pattern).detail["$or"]) == jsonencode([
        { currentPipelineExecutionStatus = ["Failed", "Stopped", "Stopping", "Succeeded"] },
        { currentStepStatus = [{ exists = true }] },
      ])
    )
    error_message = "a step rule with status '*' must forward every step status, and only a rule covering executions adds execution statuses"
  }
}

run "notification_filter_is_lifted_by_a_wildcard_rule_for_every_step" {
  command = plan

  variables {
    notifications = {
      recipients                = ["ml-team@example.com"]
      slack_webhook_secret_name = ""
      rules = [
        { pipeline = "*training", step = "*", status = "*", mute = false, subject = "", body = "" },
      ]
    }
  }

  assert {
    condition = (
      jsonencode(output.notified_statuses) == jsonencode({ execution = null, step = null })
      && !can(jsondecode(output.event_rules["pipeline-status"].event_pattern).detail["$or"])
    )
    error_message = "status '*' on step '*' covers executions and steps: no status filter at all"
  }
}

run "an_existing_execution_role_is_used_and_none_is_created" {
  command = apply

  variables {
    pipelines = {
      training_name       = "abalone-local-training"
      training_hpo_name   = "abalone-local-training-hpo"
      inference_name      = "abalone-local-inference"
      model_package_group = "abalone-local-models"
      execution_role_arn  = "arn:aws:iam::123456789012:role/platform-sagemaker"
    }
  }

  assert {
    condition     = output.pipeline_role_arn == "arn:aws:iam::123456789012:role/platform-sagemaker" && !contains(keys(output.policy_documents), "sagemaker_execution")
    error_message = "a configured execution role must be used as it is"
  }
}

run "an_existing_bucket_and_key_are_used_and_not_managed" {
  command = apply

  variables {
    storage = {
      bucket_name                        = "platform-owned-data"
      create_bucket                      = false
      kms_key_arn                        = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      noncurrent_version_expiration_days = 30
      force_destroy                      = false
    }
  }

  assert {
    condition = (
      output.bucket_name == "platform-owned-data"
      && output.kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      && !contains(keys(output.policy_documents), "bucket") && !contains(keys(output.policy_documents), "kms_key")
    )
    error_message = "an existing bucket and key are used as they are: no bucket policy, no key created"
  }

  assert {
    condition     = jsondecode(output.event_rules["training-data"].event_pattern).detail.bucket.name == ["platform-owned-data"]
    error_message = "data drops in the existing bucket must start the pipelines"
  }
}

# ------------------------------------------------------------------------------------------- validation

# One run with several invalid values: each listed variable must fail its own validation (a listed variable
# that passes, or any other failure, fails the run).
run "rejects_invalid_values" {
  command = plan

  variables {
    notifications = {
      recipients                = ["ml-team@example.com", "not-an-address"]
      slack_webhook_secret_name = ""
      rules                     = []
    }
    prefixes = {
      training     = "data"
      inference    = "data/inference"
      ground_truth = "data/ground-truth"
      outputs      = "pipeline-runs"
      code         = "pipeline-code"
    }
    schedules = [{ pipeline = "training", expression = "cron(0 3 * * *)", enabled = true, parameters = {} }]
    pipelines = {
      training_name       = "Abalone-Training"
      training_hpo_name   = "abalone-local-training-hpo"
      inference_name      = "abalone-local-inference"
      model_package_group = "abalone-local-models"
      execution_role_arn  = ""
    }
    model = {
      metric                  = "r2"
      registration_threshold  = 1.5
      model_quality_threshold = 0.5
      validation_fraction     = 0.15
      test_fraction           = 0.15
      split_seed              = 42
    }
    lambdas = {
      runtime              = "python3.9"
      timeout_seconds      = 60
      memory_mb            = 256
      reserved_concurrency = 5
      log_retention_days   = 14
    }
    storage = {
      bucket_name                        = "Abalone_Data"
      create_bucket                      = true
      kms_key_arn                        = ""
      noncurrent_version_expiration_days = 30
      force_destroy                      = true
    }
  }

  expect_failures = [var.notifications, var.prefixes, var.schedules, var.pipelines, var.model, var.lambdas, var.storage]
}
