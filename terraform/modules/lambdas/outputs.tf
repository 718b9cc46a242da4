output "function_names" {
  description = "Deployed function name per function key."
  value       = { for key, function in aws_lambda_function.function : key => function.function_name }
}

output "function_arns" {
  description = "Function ARN per function key."
  value       = { for key, function in aws_lambda_function.function : key => function.arn }
}

output "dead_letter_queue_urls" {
  description = "Dead-letter queue URL per function key."
  value       = { for key, queue in aws_sqs_queue.dead_letter : key => queue.url }
}

output "dedup_table_name" {
  description = "DynamoDB table of processed EventBridge event ids."
  value       = aws_dynamodb_table.event_dedup.name
}

output "policy_documents" {
  description = "Each function role's policy, as lambda_<function key> (for review and tests)."
  value       = { for key, policy in local.policies : "lambda_${key}" => policy }
}

output "environment_bytes" {
  description = "Bytes of each function's environment variables (names and values; Lambda allows 4 KB)."
  value       = local.environment_bytes
}

output "notification_rules_uri" {
  description = "s3:// URI of the notification rules object the notification function reads."
  value       = local.own_environment.notification.NOTIFICATION_RULES_URI
}

output "environments" {
  description = "Each function's environment variables (names of resources and secrets, never secret values; for tests)."
  value       = local.environment
}
