# The model registry side of the stack: the model package group, the active model pointer and the role the
# pipelines and their jobs run as (unless an existing role is configured).

locals {
  arn_base = "arn:${var.partition}:sagemaker:${var.region}:${var.account_id}"
  # Model package ARNs carry the group name in lower case.
  model_package_group_arn = "${local.arn_base}:model-package-group/${lower(var.model_package_group_name)}"
  model_packages_arn      = "${local.arn_base}:model-package/${lower(var.model_package_group_name)}/*"

  create_execution_role = var.execution_role_arn == ""
  registry_sources      = var.registry_source == null ? [] : [var.registry_source] # a consumer's registry, or none
  execution_role_name   = "${var.name_prefix}-sagemaker-execution"
  execution_role_arn    = "arn:${var.partition}:iam::${var.account_id}:role/${local.execution_role_name}"

  execution_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(length(var.data_kms_key_arns) == 0 ? [] : [
      {
        # The keys of the bucket's objects (an existing bucket's own key included) and of the jobs' volumes/outputs.
        Sid      = "DataKeys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource = var.data_kms_key_arns
      },
      ], length(var.data_kms_key_arns) == 0 ? [] : [
      {
        # SageMaker creates grants on the key for the volumes of the jobs it starts; never a grant for anyone else.
        Sid       = "DataKeyGrantsForJobVolumes"
        Effect    = "Allow"
        Action    = ["kms:CreateGrant"]
        Resource  = var.data_kms_key_arns
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      ], [
      {
        Sid      = "ReadData"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${var.bucket_arn}/*"
      },
      {
        # Only under the outputs prefix: an object a job put under the training or inference prefix would start
        # a pipeline (a start loop). No DeleteObject: inputs are never modified, outputs are execution-scoped.
        Sid      = "WriteOutputs"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = "${var.bucket_arn}/${var.outputs_prefix}/*"
      },
      {
        Sid      = "DataBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = var.bucket_arn
      },
      {
        Sid    = "PipelineJobs"
        Effect = "Allow"
        # A consumer trains and registers nothing (var.trains): no training or tuning jobs, no CreateModelPackage.
        Action = concat([
          "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
          "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
          "sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags", "sagemaker:ListTags",
          ], !var.trains ? [] : [
          "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
          "sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeHyperParameterTuningJob",
          "sagemaker:StopHyperParameterTuningJob", "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        ])
        Resource = concat([
          "${local.arn_base}:processing-job/*",
          "${local.arn_base}:transform-job/*",
          "${local.arn_base}:model/*",
          ], !var.trains ? [] : [
          "${local.arn_base}:training-job/*",
          "${local.arn_base}:hyper-parameter-tuning-job/*",
        ])
      },
      {
        Sid      = "ModelRegistry"
        Effect   = "Allow"
        Action   = concat(var.trains ? ["sagemaker:CreateModelPackage"] : [], ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"])
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
        Resource = aws_ssm_parameter.active_model.arn
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
      ],
      # A consumer scores with versions of its registry's group in another account: describe them, read what they
      # refer to, decrypt it. The registry's group policy, bucket policy and key policy grant the other half.
      [for source in local.registry_sources : {
        Sid      = "RegistryModelVersions"
        Effect   = "Allow"
        Action   = ["sagemaker:DescribeModelPackage"]
        Resource = source.model_packages_arn
      }],
      [for source in local.registry_sources : {
        Sid      = "RegistryModelVersionObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [for pattern in source.key_patterns : "${source.bucket_arn}/${pattern}*"]
      }],
      [for source in local.registry_sources : {
        Sid       = "RegistryBucketListing"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = source.bucket_arn
        Condition = { StringLike = { "s3:prefix" = [for pattern in source.key_patterns : "${pattern}*"] } }
      }],
      [for source in local.registry_sources : {
        Sid      = "RegistryBucketKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:DescribeKey"]
        Resource = source.kms_key_arn
      }],
      !var.jobs_in_vpc ? [] : [
        # Jobs in a VPC: SageMaker creates and removes their network interfaces as this role ("Give SageMaker Access
        # to Resources in your Amazon VPC", https://docs.aws.amazon.com/sagemaker/latest/dg/infrastructure-give-access.html,
        # and the CreateTrainingJob/CreateProcessingJob permissions of
        # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html).
        {
          # The Describe actions support no resource-level permissions: "*" is the only accepted resource.
          Sid    = "DescribeJobNetwork"
          Effect = "Allow"
          Action = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
          "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
          Resource = "*"
        },
        ], !var.jobs_in_vpc ? [] : [
        {
          Sid    = "JobNetworkInterfaces"
          Effect = "Allow"
          Action = ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
          "ec2:DeleteNetworkInterfacePermission"]
          Resource = [for kind in ["network-interface", "subnet", "security-group"] :
          "arn:${var.partition}:ec2:${var.region}:${var.account_id}:${kind}/*"]
        },
    ])
  })
}

# ------------------------------------------------------------------------------------------- registry

resource "aws_sagemaker_model_package_group" "models" {
  model_package_group_name        = var.model_package_group_name
  model_package_group_description = "Model versions of ${var.name_prefix}, registered by the training pipelines"
}

# A registry's consumers describe and list the group's versions from their accounts ("cross-account
# discoverability", PutModelPackageGroupPolicy in the SageMaker API reference); nothing else.
resource "aws_sagemaker_model_package_group_policy" "consumers" {
  count = length(var.consumer_role_arns) > 0 ? 1 : 0

  model_package_group_name = aws_sagemaker_model_package_group.models.model_package_group_name
  resource_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ConsumersReadModelVersions"
      Effect = "Allow"
      # The consumers' accounts, narrowed to their execution roles (as in the bucket and key policies).
      Principal = { AWS = distinct([for arn in var.consumer_role_arns : "arn:${var.partition}:iam::${split(":", arn)[4]}:root"]) }
      Action    = ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
      Resource  = local.model_packages_arn
      Condition = { ArnEquals = { "aws:PrincipalArn" = var.consumer_role_arns } }
    }]
  })
}

# The active model pointer: written by the approval_trigger function, read by the inference ResolveModel
# step. Terraform only creates it; later applies leave the value the function wrote.
resource "aws_ssm_parameter" "active_model" {
  #checkov:skip=CKV2_AWS_34:The value is a model package ARN, not a secret; the pipelines read it as a String.
  name        = var.active_model_parameter.name
  description = "ARN of the model package version the batch-inference pipeline uses ('${var.active_model_parameter.initial_value}': latest approved)"
  type        = "String"
  value       = var.active_model_parameter.initial_value

  lifecycle {
    ignore_changes = [value]
  }
}

# ------------------------------------------------------------------------------------------- execution role

resource "aws_iam_role" "execution" {
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

resource "aws_iam_role_policy" "execution" {
  count = local.create_execution_role ? 1 : 0

  name   = "pipelines"
  role   = aws_iam_role.execution[0].id
  policy = local.execution_policy
}
