output "function_names" {
  description = "Deployed function name per function key."
  value       = { for key, function in aws_lambda_function.function : key => function.function_name }
}

output "function_arns" {
  description = "Function ARN per function key."
  value       = { for key, function in aws_lambda_function.function : key => function.arn }
}

output "dead_letter_queue_arns" {
  description = "Dead-letter queue ARN per function key."
  value       = { for key, queue in aws_sqs_queue.dead_letter : key => queue.arn }
}

output "dead_letter_queue_urls" {
  description = "Dead-letter queue URL per function key."
  value       = { for key, queue in aws_sqs_queue.dead_letter : key => queue.url }
}

output "log_group_arns" {
  description = "Log group ARN per function key."
  value       = { for key, group in aws_cloudwatch_log_group.function : key => group.arn }
}

output "dedup_table_name" {
  description = "DynamoDB table of processed EventBridge event ids."
  value       = aws_dynamodb_table.event_dedup.name
}

output "dedup_table_arn" {
  description = "ARN of the dedup table."
  value       = aws_dynamodb_table.event_dedup.arn
}

output "active_model_parameter_name" {
  description = "SSM parameter holding the active model package ARN."
  value       = aws_ssm_parameter.active_model.name
}

output "active_model_parameter_arn" {
  description = "ARN of the active model parameter."
  value       = aws_ssm_parameter.active_model.arn
}

output "function_names_planned" {
  description = "Function name per function key, known before the functions exist (for role policies)."
  value       = local.functions
}
