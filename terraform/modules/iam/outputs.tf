# Role ARNs are published only once their policies are attached, so nothing uses a role without them
# (AWS checks a function's DLQ permission when the function is created).

output "pipeline_starter_role_arn" {
  description = "Role EventBridge assumes to start the pipelines."
  value       = aws_iam_role.pipeline_starter.arn
  depends_on  = [aws_iam_role_policy.pipeline_starter]
}

output "lambda_role_arns" {
  description = "Execution role ARN per function key."
  value       = { for key, role in aws_iam_role.lambda : key => role.arn }
  depends_on  = [aws_iam_role_policy.lambda]
}

output "sagemaker_execution_role_arn" {
  description = "Role the pipelines run as: the created one, or pipelines.execution_role_arn."
  value       = local.create_execution_role ? aws_iam_role.sagemaker_execution[0].arn : var.execution_role_arn
  depends_on  = [aws_iam_role_policy.sagemaker_execution]
}

output "policy_documents" {
  description = "Every identity policy of the stack by name (for review and tests)."
  value = merge(
    { pipeline_starter = local.pipeline_starter_policy },
    { for key, policy in local.lambda_policies : "lambda_${key}" => policy },
    local.create_execution_role ? { sagemaker_execution = local.execution_policy } : {},
  )
}
