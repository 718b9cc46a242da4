output "bucket_name" {
  description = "Name of the data bucket."
  value       = local.bucket_name
}

output "bucket_arn" {
  description = "ARN of the data bucket."
  value       = local.bucket_arn
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the bucket, topic, queues, logs, table and Lambda environment."
  value       = local.kms_key_arn
}

output "policy_documents" {
  description = "The key policy and the bucket policy (for review and tests)."
  value = merge(
    local.create_key ? { kms_key = local.key_policy } : {},
    var.create_bucket ? { bucket = local.tls_only_policy } : {},
  )
}
