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
