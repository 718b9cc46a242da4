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
  # An existing bucket must be in the stack's Region (modules/storage checks it).
  mock_data "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock-existing-bucket", region = "us-east-1" }
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

  assert {
    condition     = module.storage.noncurrent_version_expiration_days == []
    error_message = "local sets noncurrent_version_expiration_days = 0: no lifecycle rule"
  }

  # --- data drops start the pipelines with the object location

  assert {
    condition = alltrue([
      for key, prefix in { training-data = "data/training", inference-data = "data/inference", ground-truth-data = "data/ground-truth" } :
      jsondecode(output.event_rules[key].event_pattern).source == ["aws.s3"]
      && jsondecode(output.event_rules[key].event_pattern)["detail-type"] == ["Object Created"]
      && jsondecode(output.event_rules[key].event_pattern).detail.bucket.name == ["abalone-local-data"]
      && jsondecode(output.event_rules[key].event_pattern).detail.object.key == [{ wildcard = "${prefix}/*.csv" }, { wildcard = "${prefix}/*/_SUCCESS" }]
    ])
    error_message = "S3 rules must match Object Created in the data bucket of a '<prefix>/*.csv' object or a '<prefix>/*/_SUCCESS' trigger file"
  }

  assert {
    condition = (
      output.event_rules["training-data"].target_arn == "${var.pipeline_arn_prefix}abalone-local-training"
      && output.event_rules["inference-data"].target_arn == "${var.pipeline_arn_prefix}abalone-local-inference"
      && output.event_rules["ground-truth-data"].target_arn == "${var.pipeline_arn_prefix}abalone-local-model-quality"
    )
    error_message = "S3 rules must start the training, the inference and the model-quality pipeline respectively"
  }

  assert {
    condition = alltrue([
      for key in ["training-data", "inference-data", "ground-truth-data"] :
      output.event_rules[key].pipeline_parameters == { InputBucket = "$.detail.bucket.name", InputKey = "$.detail.object.key" }
    ])
    error_message = "S3 targets must pass InputBucket/InputKey from the event"
  }

  # --- status changes of the four pipelines go to the notification function

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
      "${var.pipeline_arn_prefix}abalone-local-model-quality",
    ])
    error_message = "the status rule must be limited to exactly the four pipelines of the environment"
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
        pipelineArn       = ["${var.pipeline_arn_prefix}abalone-local-inference", "${var.pipeline_arn_prefix}abalone-local-model-quality"]
        stepName          = [local.contracts.steps.model_quality_violated]
        currentStepStatus = ["Failed"]
      }
    )
    error_message = "the retraining rule must match only a Failed ModelQualityViolated step (the Fail step of a genuine violation) of the inference or the model-quality pipeline"
  }

  # SageMaker may send one change twice with different event ids: the retrain_trigger function starts the
  # pipeline with a ClientRequestToken of the violating execution (lambdas/retrain_trigger), the rule never
  # targets the pipeline itself.
  assert {
    condition = (
      output.event_rules["retrain-on-model-quality"].target_arn == module.lambdas.function_arns.retrain_trigger
      && output.event_rules["retrain-on-model-quality"].pipeline_parameters == {}
      && output.event_rules["retrain-on-model-quality"].dead_letter_arn != ""
      && jsondecode(module.lambdas.environments.retrain_trigger.RETRAIN_PARAMETERS) == { InputBucket = "abalone-local-data", InputKey = "data/training/" }
      && module.lambdas.environments.retrain_trigger.RETRAIN_PIPELINE_NAME == "abalone-local-training-hpo"
    )
    error_message = "retraining must go through the retrain_trigger function, which starts training with HPO on the configured training data"
  }

  assert {
    condition = toset(flatten([
      for statement in jsondecode(output.policy_documents.lambda_retrain_trigger).Statement : [
        for pair in setproduct(flatten([statement.Action]), flatten([statement.Resource])) : join(" ", pair)
      ] if length([for action in flatten([statement.Action]) : action if startswith(action, "sagemaker:") || startswith(action, "sns:")]) > 0
    ])) == toset(["sagemaker:StartPipelineExecution ${var.pipeline_arn_prefix}abalone-local-training-hpo"])
    error_message = "the retrain_trigger function may start the training-with-HPO pipeline and nothing else of SageMaker, and sends no message"
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
    error_message = "EventBridge may start exactly the four pipelines"
  }

  assert {
    condition = alltrue([
      for key in ["lambda_notification", "lambda_approval_trigger", "lambda_retrain_trigger", "pipeline_starter", "sagemaker_execution", "kms_key", "bucket"] :
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
          ["abalone-local-training", "abalone-local-training-hpo", "abalone-local-inference", "abalone-local-model-quality"],
        ) : "${pair[0]} ${var.pipeline_arn_prefix}${pair[1]}/execution/*"
      ],
      [
        "s3:GetObject arn:aws:s3:::mock-bucket/pipeline-runs/*",
        "s3:GetObject arn:aws:s3:::abalone-local-data/${trimprefix(output.notification_rules_uri, "s3://abalone-local-data/")}",
        "sagemaker:DescribeProcessingJob arn:aws:sagemaker:us-east-1:123456789012:processing-job/*",
      ],
    ))
    error_message = "the notification function may read exactly its executions' steps, processing jobs, objects under the outputs prefix and its rules object"
  }

  # --- item 11: rules and templates are not in the environment (Lambda: 4 KB for all variables)

  assert {
    condition = (
      !contains(keys(module.lambdas.environments.notification), "NOTIFICATION_RULES")
      && startswith(output.notification_rules_uri, "s3://abalone-local-data/pipeline-code/lambda-config/notification-rules-")
      && module.lambdas.environments.notification.NOTIFICATION_RULES_URI == output.notification_rules_uri
      && alltrue([for bytes in values(output.lambda_environment_bytes) : bytes <= 4096])
    )
    error_message = "the notification rules must reach the function through an S3 object, and every environment must stay within 4 KB"
  }

  # --- names shared with the lambdas and pipelines

  assert {
    condition = (
      output.active_model_parameter_name == "/abalone/local/active-model-package-arn"
      && output.dedup_table_name == "abalone-local-event-dedup"
      && output.model_package_group_name == "abalone-local-models"
      && output.lambda_function_names == {
        notification     = "abalone-local-notification"
        approval_trigger = "abalone-local-approval-trigger"
        retrain_trigger  = "abalone-local-retrain-trigger"
      }
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
      model_quality_name  = "abalone-local-model-quality"
      model_package_group = "abalone-local-models"
      execution_role_arn  = "arn:aws:iam::123456789012:role/platform-sagemaker"
    }
  }

  assert {
    condition     = output.pipeline_role_arn == "arn:aws:iam::123456789012:role/platform-sagemaker" && !contains(keys(output.policy_documents), "sagemaker_execution")
    error_message = "a configured execution role must be used as it is"
  }
}

# Item 5 of issue 16: with an existing bucket the stack never manages its notification configuration
# (PutBucketNotificationConfiguration replaces all of it); its owner enables EventBridge delivery and says so.
run "an_existing_bucket_is_used_without_taking_over_its_notifications" {
  command = apply

  variables {
    storage = {
      bucket_name                              = "platform-owned-data"
      create_bucket                            = false
      kms_key_arn                              = ""
      existing_bucket_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      existing_bucket_eventbridge_acknowledged = true
      noncurrent_version_expiration_days       = 30
      force_destroy                            = false
    }
  }

  assert {
    condition = (
      output.bucket_name == "platform-owned-data"
      && !module.storage.manages_bucket_notification
      && !contains(keys(output.policy_documents), "bucket")
    )
    error_message = "an existing bucket is used as it is: no bucket policy, no notification configuration"
  }

  assert {
    condition = alltrue([
      for document in [output.policy_documents.sagemaker_execution, output.policy_documents.lambda_notification] :
      contains(flatten([
        for statement in jsondecode(document).Statement : flatten([statement.Resource]) if contains(flatten([statement.Action]), "kms:Decrypt")
      ]), "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555")
    ])
    error_message = "the SageMaker role and the notification function must be able to decrypt the existing bucket's objects"
  }

  assert {
    condition     = jsondecode(output.event_rules["training-data"].event_pattern).detail.bucket.name == ["platform-owned-data"]
    error_message = "data drops in the existing bucket must start the pipelines"
  }
}

run "an_existing_bucket_needs_the_eventbridge_acknowledgement" {
  command = plan

  variables {
    storage = {
      bucket_name   = "platform-owned-data"
      create_bucket = false
    }
  }

  # The variable's validation refuses it (the stack never manages an existing bucket's notifications).
  expect_failures = [var.storage]
}

# Item 4 of issue 16: CloudWatch Logs and EventBridge can use a key only when its policy names them, and a
# supplied key's policy is not the stack's: logs, queues, topic and table keep the stack's key.
run "a_supplied_key_encrypts_the_bucket_and_the_stack_key_the_rest" {
  command = apply

  variables {
    storage = {
      bucket_name                        = "abalone-local-data"
      create_bucket                      = true
      kms_key_arn                        = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      noncurrent_version_expiration_days = 30
      force_destroy                      = true
    }
  }

  assert {
    condition = (
      output.bucket_kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
      && output.kms_key_arn != output.bucket_kms_key_arn
      && module.storage.manages_bucket_notification
    )
    error_message = "a supplied key encrypts the created bucket; the stack's own key the logs, queues, topic and table"
  }

  assert {
    condition = length(setsubtract(
      ["CloudWatchLogsEncryptsTheStackLogGroups", "EventBridgeWritesToTheEncryptedDeadLetterQueue"],
      [for statement in jsondecode(output.policy_documents.kms_key).Statement : statement.Sid],
    )) == 0
    error_message = "the key of the log groups and the events dead-letter queue must let CloudWatch Logs and EventBridge use it"
  }

  assert {
    condition = contains(flatten([
      for statement in jsondecode(output.policy_documents.sagemaker_execution).Statement : flatten([statement.Resource]) if contains(flatten([statement.Action]), "kms:GenerateDataKey")
    ]), "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555")
    error_message = "the SageMaker role must be able to use the bucket's key"
  }

  assert {
    condition     = module.storage.noncurrent_version_expiration_days == [30]
    error_message = "an environment that sets noncurrent_version_expiration_days gets the lifecycle rule with those days"
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
      model_quality_name  = "abalone-local-model-quality"
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

# Item 11 of issue 16: ten rules with multi-line templates (over 10 KB of JSON) would exceed Lambda's 4 KB for
# all environment variables; they go to an S3 object and the environment stays small.
run "ten_kilobytes_of_notification_rules_deploy" {
  command = apply

  variables {
    notifications = {
      recipients                = ["ml-team@example.com"]
      slack_webhook_secret_name = ""
      rules = [
        for index in range(10) : {
          pipeline = "*", step = "Step${index}", status = "Failed", mute = false,
          subject  = "[{{ environment }}] {{ pipeline }} {{ step }} failed"
          body     = join("", [for line in range(20) : "Line ${line} of rule ${index}: {{ pipeline }} {{ step }} {{ failure_reason }}\n"])
        }
      ]
    }
  }

  assert {
    condition = (
      length(jsonencode(var.notifications.rules)) > 10240
      && alltrue([for bytes in values(output.lambda_environment_bytes) : bytes <= 4096])
      && !contains(keys(module.lambdas.environments.notification), "NOTIFICATION_RULES")
    )
    error_message = "a 10 KB rule set must deploy with every function environment within Lambda's 4 KB"
  }
}

# Issue 18 item 1: any lower-case environment name whose derived names fit AWS's limits (derived.tf, generated
# from batchops_core.settings).
run "any_environment_name_that_fits_is_accepted" {
  command = plan

  variables {
    environment = "diabetes-eu2"
  }

  assert {
    condition     = local.name_prefix == "abalone-diabetes-eu2" && local.shared_names.dedup_table == "abalone-diabetes-eu2-event-dedup"
    error_message = "another environment name must derive its own resource names"
  }
}

run "an_upper_case_environment_name_is_refused" {
  command = plan

  variables {
    environment = "Diabetes"
  }

  expect_failures = [var.environment]
}

run "an_environment_name_too_long_for_the_derived_names_is_refused" {
  command = plan

  variables {
    environment = "a-rather-long-environment-name-xyz"
  }

  expect_failures = [var.environment]
}
