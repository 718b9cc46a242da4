locals {
  # Function key (as in docs/architecture.md and the zip names) -> deployed name and role name.
  functions = {
    notification     = "${var.name_prefix}-notification"
    approval_trigger = "${var.name_prefix}-approval-trigger"
    retrain_trigger  = "${var.name_prefix}-retrain-trigger"
  }
  # Named here so the role policies can name the queues by ARN without waiting for them (IAM accepts a policy
  # naming a resource that does not exist yet): the provider's ~25 s wait after creating a queue then runs
  # beside the functions' creation instead of before it.
  dead_letter_names = { for key, name in local.functions : key => "${name}-dlq" }
  dead_letter_arns  = { for key, name in local.dead_letter_names : key => "arn:${var.partition}:sqs:${var.region}:${var.account_id}:${name}" }
  # Each package under a key named by its SHA-256: a changed zip is a new object, and so a code update.
  package_files = { for key in keys(local.functions) : key => "${var.package_dir}/${key}.zip" }
  package_keys  = { for key, file in local.package_files : key => "${var.packages.key_prefix}/${key}-${filesha256(file)}.zip" }
  role_names = {
    notification     = "${var.name_prefix}-notification-lambda"
    approval_trigger = "${var.name_prefix}-approval-trigger-lambda"
    retrain_trigger  = "${var.name_prefix}-retrain-trigger-lambda"
  }
  common_environment = {
    PROJECT       = var.project
    ENVIRONMENT   = var.environment
    SNS_TOPIC_ARN = var.topic_arn
    DEDUP_TABLE   = aws_dynamodb_table.event_dedup.name
  }
  # Content-addressed, so a changed rule set is a new object and a new environment (new cold starts read it).
  notification_rules_key = "${var.notification_rules.key_prefix}/notification-rules-${sha256(var.notification_rules.document)}.json"
  own_environment = {
    notification     = { NOTIFICATION_RULES_URI = "s3://${var.notification_rules.bucket}/${local.notification_rules_key}" }
    approval_trigger = { ACTIVE_MODEL_PARAMETER = var.active_model_parameter.name }
    retrain_trigger  = {}
  }
  environment = {
    for key in keys(local.functions) :
    key => merge(local.common_environment, local.own_environment[key], var.function_environment[key])
  }
  # Lambda's quota: 4 KB for all environment variables together, keys and values
  # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
  environment_bytes = {
    for key, variables in local.environment :
    key => sum(concat([0], [for name, value in variables : length(name) + length(value)]))
  }

  # Allowed to every function: its logs, traces, DLQ, the topic (not retrain_trigger), the dedup table, the key,
  # its secrets.
  common_statements = {
    for key in keys(local.functions) : key => concat(
      [
        {
          Sid      = "OwnLogGroup"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = [aws_cloudwatch_log_group.function[key].arn, "${aws_cloudwatch_log_group.function[key].arn}:log-stream:*"]
        },
        {
          # X-Ray has no resource-level permissions: "*" is the only accepted resource.
          Sid      = "Tracing"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = "*"
        },
        {
          Sid      = "OwnDeadLetterQueue"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = local.dead_letter_arns[key]
        },
        {
          Sid      = "EventDeduplication"
          Effect   = "Allow"
          Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          Resource = aws_dynamodb_table.event_dedup.arn
        },
        {
          Sid      = "ProjectKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = var.kms_key_arn
        },
      ],
      # retrain_trigger sends no message: the notification function reports the violation.
      key == "retrain_trigger" ? [] : [
        {
          Sid      = "PublishAlerts"
          Effect   = "Allow"
          Action   = ["sns:Publish"]
          Resource = var.topic_arn
        },
      ],
      length(var.secret_names[key]) == 0 ? [] : [
        {
          Sid    = "ConfiguredSecrets"
          Effect = "Allow"
          Action = ["secretsmanager:GetSecretValue"]
          # Secrets Manager appends a 6-character suffix to every secret ARN.
          Resource = [for name in var.secret_names[key] : "arn:${var.partition}:secretsmanager:${var.region}:${var.account_id}:secret:${name}-??????"]
        },
      ],
      length(var.secret_names[key]) == 0 ? [] : [
        {
          # A secret encrypted with a customer key: Secrets Manager decrypts it with the caller's permission, only for
          # these secrets (the SecretARN encryption context,
          # https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html) and only through
          # Secrets Manager. The key is the secret's choice, so any key of the account.
          Sid      = "ConfiguredSecretsKeys"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = "arn:${var.partition}:kms:${var.region}:${var.account_id}:key/*"
          Condition = {
            StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" }
            StringLike = { "kms:EncryptionContext:SecretARN" = [for name in var.secret_names[key] :
            "arn:${var.partition}:secretsmanager:${var.region}:${var.account_id}:secret:${name}-??????"] }
          }
        },
      ],
    )
  }

  own_statements = {
    notification = [
      {
        Sid      = "ReadNotificationRules"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "arn:${var.partition}:s3:::${var.notification_rules.bucket}/${local.notification_rules_key}"
      },
      {
        Sid      = "ReadExecutionSteps"
        Effect   = "Allow"
        Action   = ["sagemaker:ListPipelineExecutionSteps", "sagemaker:DescribePipelineExecution"]
        Resource = [for arn in values(var.pipeline_arns) : "${arn}/execution/*"]
      },
      {
        # Step results (result.json) and reports of the pipelines' processing jobs.
        Sid      = "ReadReports"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${var.reports.bucket_arn}/${var.reports.prefix}/*"
      },
      {
        # Where a step's result and report are is read from its processing job's outputs.
        Sid      = "ReadDataQualityJobs"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeProcessingJob"]
        Resource = "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}:processing-job/*"
      },
    ]
    approval_trigger = [
      {
        Sid      = "ActiveModelPointer"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:PutParameter"]
        Resource = var.active_model_parameter.arn
      },
      {
        Sid      = "DescribeModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"]
        Resource = [var.model_package_group_arns.packages, var.model_package_group_arns.group]
      },
      {
        # ListModelPackages supports no resource-level permissions: "*" is the only accepted resource.
        Sid      = "ListModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:ListModelPackages"]
        Resource = "*"
      },
    ]
    retrain_trigger = var.retrain_pipeline_arn == null ? [] : [
      {
        Sid      = "StartRetraining"
        Effect   = "Allow"
        Action   = ["sagemaker:StartPipelineExecution"]
        Resource = var.retrain_pipeline_arn
      },
    ]
  }
  # The notification function reads objects of the bucket (step results, reports, its rules).
  data_key_statements = {
    notification = length(var.data_kms_key_arns) == 0 ? [] : [
      {
        Sid      = "DataKeys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.data_kms_key_arns
      },
    ]
    approval_trigger = []
    retrain_trigger  = []
  }

  policies = {
    for key in keys(local.functions) : key => jsonencode({
      Version   = "2012-10-17"
      Statement = concat(local.common_statements[key], local.own_statements[key], local.data_key_statements[key])
    })
  }
}

# ------------------------------------------------------------------------------------------- shared state

# The functions claim each EventBridge event id here with a conditional put, so a duplicate delivery
# (SageMaker may send several events for one change) is processed once. Items expire through TTL.
resource "aws_dynamodb_table" "event_dedup" {
  name         = var.dedup_table_name
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

# ------------------------------------------------------------------------------------------- roles

resource "aws_iam_role" "function" {
  for_each = local.role_names

  name        = each.value
  description = "Execution role of ${local.functions[each.key]}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "function" {
  for_each = local.role_names

  name   = "function"
  role   = aws_iam_role.function[each.key].id
  policy = local.policies[each.key]
}

# ------------------------------------------------------------------------------------------- functions

# EventBridge invokes the functions asynchronously: when a handler fails, Lambda itself retries twice and then
# sends the event to the function's on-failure destination, this queue (aws_lambda_function_event_invoke_config
# below; https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). EventBridge's own
# retry policy and dead-letter queue cover only failures to hand the event to Lambda.
resource "aws_sqs_queue" "dead_letter" {
  for_each = local.functions

  name                      = local.dead_letter_names[each.key]
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
  role                           = aws_iam_role.function[each.key].arn
  runtime                        = var.settings.runtime
  handler                        = "handler.handler"
  s3_bucket                      = aws_s3_object.package[each.key].bucket
  s3_key                         = aws_s3_object.package[each.key].key
  source_code_hash               = filebase64sha256(local.package_files[each.key])
  timeout                        = var.settings.timeout_seconds
  memory_size                    = var.settings.memory_mb
  reserved_concurrent_executions = var.settings.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment[each.key]
  }

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    precondition {
      condition     = local.environment_bytes[each.key] <= 4096
      error_message = "Lambda ${each.value}: its environment variables take ${local.environment_bytes[each.key]} bytes; Lambda allows 4 KB for all of them together (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."
    }
  }

  # The role's policy is in place before the function can run (the on-failure queue's permission is checked when
  # the event invoke config below names the queue, which waits for the queue).
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function, aws_s3_object.notification_rules]
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

# ------------------------------------------------------------------------------------------- packages

# The functions are created from these objects, not from local files: the provider holds one provider-wide lock
# for the whole create (or code update) of every function given a `filename`, so those come up one after the
# other (about 5 s each, its wait for the function to be Active); from S3 they are created in parallel. Lambda
# reads the object with the permissions of whoever creates the function, from a bucket in the function's Region.
resource "aws_s3_object" "package" {
  for_each = local.package_files

  bucket                 = var.packages.bucket
  key                    = local.package_keys[each.key]
  source                 = each.value
  content_type           = "application/zip"
  server_side_encryption = var.packages.kms_key_arn == "" ? null : "aws:kms"
  kms_key_id             = var.packages.kms_key_arn == "" ? null : var.packages.kms_key_arn

  # The functions keep their code until they have been pointed at the new object.
  lifecycle {
    create_before_destroy = true
  }
}

# ------------------------------------------------------------------------------------------- notification rules

# The rules and their templates (any size) are read by the notification function once per cold start.
resource "aws_s3_object" "notification_rules" {
  bucket       = var.notification_rules.bucket
  key          = local.notification_rules_key
  content      = var.notification_rules.document
  content_type = "application/json"

  # The running functions keep reading the old object until the new environment is live.
  lifecycle {
    create_before_destroy = true
  }
}
