variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "project" {
  description = "Project name (PROJECT in the Lambda environment)."
  type        = string
}

variable "environment" {
  description = "Environment name (ENVIRONMENT in the Lambda environment)."
  type        = string
}

variable "package_dir" {
  description = "Directory holding <function>.zip for each function, built by batchops.lambda_package."
  type        = string
}

variable "packages" {
  description = "Where the zips are uploaded for the functions to be created from: a bucket in the stack's Region, a key prefix, and the KMS key that encrypts them (\"\": the bucket's default encryption)."
  type = object({
    bucket      = string
    key_prefix  = string
    kms_key_arn = string
  })
}

variable "settings" {
  description = "Runtime settings shared by the functions (the env file's `lambdas` block)."
  type = object({
    runtime              = string
    timeout_seconds      = number
    memory_mb            = number
    reserved_concurrency = number
    log_retention_days   = number
  })
}

variable "kms_key_arn" {
  description = "Key that encrypts the queues, logs, table and the functions' environment."
  type        = string
}

variable "topic_arn" {
  description = "SNS topic both functions publish to."
  type        = string
}

variable "function_environment" {
  description = "Function-specific environment variables per function key (docs/architecture.md)."
  type        = map(map(string))
}

variable "secret_names" {
  description = "Secrets Manager secrets each function may read, per function key (empty list: none)."
  type = object({
    notification     = list(string)
    approval_trigger = list(string)
    retrain_trigger  = list(string)
  })
}

variable "notification_rules" {
  description = "The notification rules as JSON, and where in the bucket they are written for the notification function."
  type = object({
    document   = string
    bucket     = string
    key_prefix = string
  })
}

variable "data_kms_key_arns" {
  description = "Keys of the bucket's objects (the notification function reads results, reports and its rules there)."
  type        = list(string)
}

variable "retrain_pipeline_arn" {
  description = "The training-with-HPO pipeline the retrain_trigger function may start; null: none (a consumer)."
  type        = string
}

variable "dedup_table_name" {
  description = "Name of the DynamoDB table of processed EventBridge event ids (contracts.json)."
  type        = string
}

variable "active_model_parameter" {
  description = "SSM parameter holding the active model package ARN: the approval_trigger function writes it."
  type = object({
    name = string
    arn  = string
  })
}

variable "model_package_group_arns" {
  description = "The model package group's ARN and the ARN pattern of its versions (the approval_trigger function describes them)."
  type = object({
    group    = string
    packages = string
  })
}

variable "pipeline_arns" {
  description = "SageMaker pipeline ARN per pipeline key (the notification function reads their executions' steps)."
  type        = map(string)
}

variable "reports" {
  description = "Where the notification function reads step results and reports: the bucket's ARN and the outputs prefix."
  type = object({
    bucket_arn = string
    prefix     = string
  })
}

variable "account_id" {
  description = "AWS account of the stack."
  type        = string
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}
