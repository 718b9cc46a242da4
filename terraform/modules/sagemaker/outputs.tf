output "model_package_group_name" {
  description = "Model package group the training pipelines register into."
  value       = aws_sagemaker_model_package_group.models.model_package_group_name
}

output "model_package_group_arns" {
  description = "What a reader of the registry is granted: the group's ARN and the ARN pattern of its versions."
  value = {
    group    = local.model_package_group_arn
    packages = local.model_packages_arn
  }
}

output "active_model_parameter" {
  description = "Name and ARN of the SSM parameter holding the active model package ARN."
  value = {
    name = aws_ssm_parameter.active_model.name
    arn  = aws_ssm_parameter.active_model.arn
  }
}

# Published only once its policy is attached, so nothing uses the role without it.
output "execution_role_arn" {
  description = "Role the pipelines run as: the created one, or the configured existing one."
  value       = local.create_execution_role ? aws_iam_role.execution[0].arn : var.execution_role_arn
  depends_on  = [aws_iam_role_policy.execution]
}

output "policy_documents" {
  description = "The execution role's policy when the role is created here (for review and tests)."
  value = merge(
    local.create_execution_role ? { sagemaker_execution = local.execution_policy } : {},
    { for policy in aws_sagemaker_model_package_group_policy.consumers : "model_package_group" => policy.resource_policy },
  )
}
