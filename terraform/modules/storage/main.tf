locals {
  # The stack's own key always encrypts its logs, queues, topic, table and Lambda environments: CloudWatch
  # Logs and EventBridge can use a key only when its policy names them, and a supplied key's policy is neither
  # ours to change nor readable by Terraform (the provider has no key-policy data source). A supplied
  # storage.kms_key_arn encrypts the created bucket only; an existing bucket keeps its own key.
  kms_key_arn = aws_kms_key.data.arn
  # The key of the data bucket's objects ("" for an existing bucket without a customer-managed key).
  bucket_key_arn = var.create_bucket ? coalesce(var.kms_key_arn, aws_kms_key.data.arn) : var.existing_bucket_kms_key_arn
  # Whoever reads or writes the bucket's objects needs these.
  data_key_arns = distinct(compact([local.bucket_key_arn, var.kms_key_arn]))
  bucket_arn    = var.create_bucket ? aws_s3_bucket.data[0].arn : data.aws_s3_bucket.existing[0].arn
  bucket_name   = var.create_bucket ? aws_s3_bucket.data[0].bucket : data.aws_s3_bucket.existing[0].bucket
}

# ------------------------------------------------------------------------------------------- KMS key

resource "aws_kms_key" "data" {
  description             = "${var.name_prefix}: topic, queues, logs, table, Lambda environment (and the bucket unless a key is configured)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = local.key_policy
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name_prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

# A key policy's Resource is always "*": it means "this key", nothing else is accepted there.
locals {
  has_consumers   = length(var.consumer_reads.role_arns) > 0
  consumer_grants = local.has_consumers ? [var.consumer_reads] : []
  # The consumers' accounts as principals, narrowed to their roles by aws:PrincipalArn: a policy naming a role
  # directly is refused while the role does not exist yet, and the registry is applied before its consumers.
  consumer_accounts = distinct([for arn in var.consumer_reads.role_arns : "arn:${var.partition}:iam::${split(":", arn)[4]}:root"])

  key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "AccountAdministersTheKeyAndDelegatesUseToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
          "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
          "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
        ]
        Resource = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsTheStackLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/lambda/${var.name_prefix}-*"
          }
        }
      },
      {
        Sid       = "EventBridgeWritesToTheEncryptedDeadLetterQueue"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      },
      ], local.has_consumers ? [
      {
        # Cross-account reads need both the key policy and the reader's own IAM policy
        # (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html);
        # decrypting only. What they can decrypt is what the bucket policy lets them read.
        Sid       = "ConsumersDecryptModelVersionObjects"
        Effect    = "Allow"
        Principal = { AWS = local.consumer_accounts }
        Action    = ["kms:Decrypt", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { ArnEquals = { "aws:PrincipalArn" = var.consumer_reads.role_arns } }
      },
    ] : [])
  })

  bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([{
      Sid       = "DenyRequestsWithoutTls"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      # Read-only, and only what a model version refers to: no other output, input or prediction.
      [for grant in local.consumer_grants : {
        Sid       = "ConsumersReadModelVersionObjects"
        Effect    = "Allow"
        Principal = { AWS = local.consumer_accounts }
        Action    = ["s3:GetObject"]
        Resource  = [for pattern in grant.key_patterns : "${local.bucket_arn}/${pattern}*"]
        Condition = { ArnEquals = { "aws:PrincipalArn" = grant.role_arns } }
      }],
      # A processing input names a key prefix: SageMaker lists it before downloading.
      [for grant in local.consumer_grants : {
        Sid       = "ConsumersListModelVersionObjects"
        Effect    = "Allow"
        Principal = { AWS = local.consumer_accounts }
        Action    = ["s3:ListBucket"]
        Resource  = local.bucket_arn
        Condition = {
          ArnEquals  = { "aws:PrincipalArn" = grant.role_arns }
          StringLike = { "s3:prefix" = [for pattern in grant.key_patterns : "${pattern}*"] }
        }
      }],
    )
  })
}

# ------------------------------------------------------------------------------------------- bucket

data "aws_s3_bucket" "existing" {
  count  = var.create_bucket ? 0 : 1
  bucket = var.bucket_name

  lifecycle {
    # Lambda reads its deployment packages, and SageMaker its inputs, only from a bucket in their own Region.
    postcondition {
      condition     = self.region == var.region
      error_message = "storage.bucket_name ${var.bucket_name}: the existing bucket is in ${self.region}, the stack in ${var.region}; Lambda creates functions only from a bucket in their own Region (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html)."
    }
  }
}

resource "aws_s3_bucket" "data" {
  count = var.create_bucket ? 1 : 0

  #checkov:skip=CKV_AWS_18:Access logging needs a second log bucket per environment; S3 data events go to the account's CloudTrail.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery decision of the account owner, not of this stack.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "data" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.data[0].bucket
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.data[0].bucket
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.bucket_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  count = var.create_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.data[0].bucket
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "data" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.data[0].bucket
  policy = local.bucket_policy

  # The public access block must exist first, or AWS may reject the policy while it is being applied.
  depends_on = [aws_s3_bucket_public_access_block.data]
}

# 0 days: no rule. The provider waits about a minute after putting a lifecycle configuration (until
# consecutive reads agree), so an environment whose versions never age (local) leaves it out.
resource "aws_s3_bucket_lifecycle_configuration" "data" {
  count = var.create_bucket && var.noncurrent_version_expiration_days > 0 ? 1 : 0

  bucket = aws_s3_bucket.data[0].bucket

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {
      prefix = ""
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.data]
}

# Object Created events go to EventBridge, where the rules of modules/events route them. Only for a bucket
# the stack creates: this resource owns the bucket's whole notification configuration.
resource "aws_s3_bucket_notification" "created" {
  count = var.create_bucket ? 1 : 0

  bucket      = aws_s3_bucket.data[0].id
  eventbridge = true
}
