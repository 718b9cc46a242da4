# What the CLI, the demo and the pipeline upsert read after an apply (`terraform output -json`).

output "bucket_name" {
  description = "Data bucket."
  value       = module.storage.bucket_name
}

output "kms_key_arn" {
  description = "The stack's key: topic, queues, logs, table and Lambda environment."
  value       = module.storage.kms_key_arn
}

output "bucket_kms_key_arn" {
  description = "Key of the bucket's objects (\"\": an existing bucket without a customer-managed key)."
  value       = module.storage.bucket_kms_key_arn
}

output "sns_topic_arn" {
  description = "Alerts topic (email subscriptions)."
  value       = module.notifications.topic_arn
}

output "pipeline_role_arn" {
  description = "Role the SageMaker pipelines run as (pass it to the pipeline upsert)."
  value       = module.sagemaker.execution_role_arn
}

output "pipeline_starter_role_arn" {
  description = "Role EventBridge assumes to start the pipelines."
  value       = module.events.pipeline_starter_role_arn
}

output "pipeline_arns" {
  description = "ARNs the EventBridge rules and the starter role use, per pipeline key."
  value       = local.pipeline_arns
}

output "model_package_group_name" {
  description = "Model package group the training pipelines register into."
  value       = module.sagemaker.model_package_group_name
}

output "lambda_function_names" {
  description = "Deployed function name per function key (notification, approval_trigger, retrain_trigger)."
  value       = module.lambdas.function_names
}

output "rule_names" {
  description = "EventBridge rule name per rule key."
  value       = module.events.rule_names
}

output "dlq_urls" {
  description = "Dead-letter queue URLs: `events` for undeliverable events, one per function."
  value       = merge({ events = module.events.dead_letter_queue_url }, module.lambdas.dead_letter_queue_urls)
}

output "dedup_table_name" {
  description = "DynamoDB table of processed EventBridge event ids."
  value       = module.lambdas.dedup_table_name
}

output "active_model_parameter_name" {
  description = "SSM parameter holding the active model package ARN ('none' until an approval)."
  value       = module.sagemaker.active_model_parameter.name
}

output "policy_documents" {
  description = "Every IAM, key, bucket and queue policy of the stack by name (for review and tests)."
  value = merge(
    module.storage.policy_documents,
    module.lambdas.policy_documents,
    module.events.policy_documents,
    module.sagemaker.policy_documents,
  )
}

output "event_rules" {
  description = "Every EventBridge rule: pattern or schedule, target, pipeline parameters, retry policy, DLQ."
  value       = module.events.rules
}

output "notified_statuses" {
  description = "Statuses the pipeline-status rule forwards to the notification function, per event kind (execution, step); null: every status."
  value       = module.events.notified_statuses
}

output "lambda_environment_bytes" {
  description = "Bytes of each function's environment variables (Lambda allows 4 KB in all)."
  value       = module.lambdas.environment_bytes
}

output "notification_rules_uri" {
  description = "The S3 object the notification function reads its rules and templates from."
  value       = module.lambdas.notification_rules_uri
}

output "job_network" {
  description = "VPC, subnets and security groups the SageMaker jobs run in (empty without a VPC); the pipeline upsert finds created ones by their job-network tag."
  value = {
    vpc_id             = module.network.vpc_id
    subnet_ids         = module.network.subnet_ids
    security_group_ids = module.network.security_group_ids
  }
}
