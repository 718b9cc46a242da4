output "bucket_name" {
  description = "Name of the data bucket."
  value       = local.bucket_name
}

output "bucket_arn" {
  description = "ARN of the data bucket."
  value       = local.bucket_arn
}

output "kms_key_arn" {
  description = "ARN of the stack's key: topic, queues, logs, table and Lambda environment (its policy lets CloudWatch Logs and EventBridge use it)."
  value       = local.kms_key_arn
}

output "bucket_kms_key_arn" {
  description = "ARN of the key of the bucket's objects (\"\": an existing bucket without a customer-managed key)."
  value       = local.bucket_key_arn
}

output "data_kms_key_arns" {
  description = "Keys whoever reads or writes the bucket's objects needs."
  value       = local.data_key_arns
}

output "policy_documents" {
  description = "The key policy and the bucket policy (for review and tests)."
  value = merge(
    { kms_key = local.key_policy },
    var.create_bucket ? { bucket = local.bucket_policy } : {},
  )
}

output "manages_bucket_notification" {
  description = "Whether the stack owns the bucket's notification configuration (only for a bucket it creates)."
  value       = length(aws_s3_bucket_notification.created) > 0
}

output "noncurrent_version_expiration_days" {
  description = "Days of the applied noncurrent-version expiry rule (for tests); empty: no lifecycle rule."
  value = [
    for lifecycle in aws_s3_bucket_lifecycle_configuration.data :
    one(one(lifecycle.rule).noncurrent_version_expiration).noncurrent_days
  ]
}
