locals {
  arn_base = "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}"
  # Model package ARNs carry the group name in lower case.
  model_package_group_arn = "${local.arn_base}:model-package-group/${lower(var.model_package_group)}"
  model_packages_arn      = "${local.arn_base}:model-package/${lower(var.model_package_group)}/*"
  pipeline_execution_arns = [for arn in values(var.pipeline_arns) : "${arn}/execution/*"]

  lambda_role_names = {
    notification     = "${var.name_prefix}-notification-lambda"
    approval_trigger = "${var.name_prefix}-approval-trigger-lambda"
  }

  # Allowed to every function: its logs, traces, DLQ, the topic, the dedup table, the key, its secrets.
  lambda_common_statements = {
    for key, function in var.functions : key => concat(
      [
        {
          Sid      = "OwnLogGroup"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = [function.log_group_arn, "${function.log_group_arn}:log-stream:*"]
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
          Resource = function.dead_letter_queue_arn
        },
        {
          Sid      = "PublishAlerts"
          Effect   = "Allow"
          Action   = ["sns:Publish"]
          Resource = var.topic_arn
        },
        {
          Sid      = "EventDeduplication"
          Effect   = "Allow"
          Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          Resource = var.dedup_table_arn
        },
        {
          Sid      = "ProjectKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource = var.kms_key_arn
        },
      ],
      length(function.secret_names) == 0 ? [] : [
        {
          Sid    = "ConfiguredSecrets"
          Effect = "Allow"
          Action = ["secretsmanager:GetSecretValue"]
          # Secrets Manager appends a 6-character suffix to every secret ARN.
          Resource = [for name in function.secret_names : "arn:${var.partition}:secretsmanager:${var.region}:${var.account_id}:secret:${name}-??????"]
        },
      ],
    )
  }

  lambda_own_statements = {
    notification = [
      {
        Sid      = "ReadExecutionSteps"
        Effect   = "Allow"
        Action   = ["sagemaker:ListPipelineExecutionSteps", "sagemaker:DescribePipelineExecution"]
        Resource = local.pipeline_execution_arns
      },
      {
        Sid      = "ReadReports"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${var.bucket_arn}/${var.outputs_prefix}/*"
      },
      {
        # The built-in data-quality engine runs as a processing job; its outcome is read from the job.
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
        Resource = var.active_model_parameter_arn
      },
      {
        Sid      = "DescribeModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"]
        Resource = [local.model_packages_arn, local.model_package_group_arn]
      },
      {
        # ListModelPackages supports no resource-level permissions: "*" is the only accepted resource.
        Sid      = "ListModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:ListModelPackages"]
        Resource = "*"
      },
    ]
  }

  lambda_policies = {
    for key in keys(var.functions) : key => jsonencode({
      Version   = "2012-10-17"
      Statement = concat(local.lambda_common_statements[key], local.lambda_own_statements[key])
    })
  }

  pipeline_starter_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartTheStackPipelines"
        Effect   = "Allow"
        Action   = ["sagemaker:StartPipelineExecution"]
        Resource = sort(values(var.pipeline_arns))
      },
      {
        Sid      = "DeadLetterQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = var.events_dead_letter_queue_arn
      },
      {
        Sid      = "ProjectKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.kms_key_arn
      },
    ]
  })

  create_execution_role = var.execution_role_arn == ""
  execution_role_name   = "${var.name_prefix}-sagemaker-execution"
  execution_role_arn    = "arn:${var.partition}:iam::${var.account_id}:role/${local.execution_role_name}"
  sagemaker_jobs_arn    = "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}"

  execution_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # No DeleteObject: inputs are never modified and outputs are execution-scoped.
        Sid      = "DataBucketObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = "${var.bucket_arn}/*"
      },
      {
        Sid      = "DataBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = var.bucket_arn
      },
      {
        Sid      = "ProjectKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
        Resource = var.kms_key_arn
      },
      {
        Sid    = "PipelineJobs"
        Effect = "Allow"
        Action = [
          "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
          "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
          "sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeHyperParameterTuningJob",
          "sagemaker:StopHyperParameterTuningJob", "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
          "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
          "sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags", "sagemaker:ListTags",
        ]
        Resource = [
          "${local.sagemaker_jobs_arn}:processing-job/*",
          "${local.sagemaker_jobs_arn}:training-job/*",
          "${local.sagemaker_jobs_arn}:hyper-parameter-tuning-job/*",
          "${local.sagemaker_jobs_arn}:transform-job/*",
          "${local.sagemaker_jobs_arn}:model/*",
        ]
      },
      {
        Sid      = "ModelRegistry"
        Effect   = "Allow"
        Action   = ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"]
        Resource = [local.model_packages_arn, local.model_package_group_arn]
      },
      {
        # ListModelPackages supports no resource-level permissions: "*" is the only accepted resource.
        Sid      = "ListModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:ListModelPackages"]
        Resource = "*"
      },
      {
        Sid      = "ActiveModelPointer"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = var.active_model_parameter_arn
      },
      {
        Sid      = "PassThisRoleToJobs"
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = local.execution_role_arn
        Condition = {
          StringEquals = { "iam:PassedToService" = "sagemaker.amazonaws.com" }
        }
      },
      {
        # ECR issues registry tokens for the whole account: "*" is the only accepted resource.
        Sid      = "RegistryToken"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        # The built-in images live in AWS-owned accounts that differ per region.
        Sid      = "PullBuiltInImages"
        Effect   = "Allow"
        Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        Resource = "arn:${var.partition}:ecr:${var.region}:*:repository/sagemaker-*"
      },
      {
        Sid      = "JobLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/*"
      },
      {
        # CloudWatch metrics have no resource-level permissions: "*" narrowed by the namespace condition.
        Sid       = "JobMetrics"
        Effect    = "Allow"
        Action    = ["cloudwatch:PutMetricData"]
        Resource  = "*"
        Condition = { StringLike = { "cloudwatch:namespace" = "/aws/sagemaker/*" } }
      },
    ]
  })
}

# ------------------------------------------------------------------------------------------- EventBridge

resource "aws_iam_role" "pipeline_starter" {
  name        = "${var.name_prefix}-pipeline-starter"
  description = "EventBridge starts the three pipelines of ${var.name_prefix}"
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

# ------------------------------------------------------------------------------------------- Lambdas

resource "aws_iam_role" "lambda" {
  for_each = local.lambda_role_names

  name        = each.value
  description = "Execution role of ${var.functions[each.key].function_name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_role_names

  name   = "function"
  role   = aws_iam_role.lambda[each.key].id
  policy = local.lambda_policies[each.key]
}

# ------------------------------------------------------------------------------------------- SageMaker

resource "aws_iam_role" "sagemaker_execution" {
  count = local.create_execution_role ? 1 : 0

  name        = local.execution_role_name
  description = "SageMaker pipelines and jobs of ${var.name_prefix}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "sagemaker.amazonaws.com" }
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "sagemaker_execution" {
  count = local.create_execution_role ? 1 : 0

  name   = "pipelines"
  role   = aws_iam_role.sagemaker_execution[0].id
  policy = local.execution_policy
}
