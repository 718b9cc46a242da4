variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "project" {
  description = "Project name (PROJECT in the Lambda environment; part of the SSM parameter name)."
  type        = string
}

variable "environment" {
  description = "Environment name (ENVIRONMENT in the Lambda environment; part of the SSM parameter name)."
  type        = string
}

variable "package_dir" {
  description = "Directory holding <function>.zip for each function, built by batchops.lambda_package."
  type        = string
}

variable "settings" {
  description = "Runtime settings shared by both functions (the env file's `lambdas` block)."
  type = object({
    runtime              = string
    timeout_seconds      = number
    memory_mb            = number
    reserved_concurrency = number
    log_retention_days   = number
  })
}

variable "role_arns" {
  description = "Execution role ARN per function key (notification, approval_trigger)."
  type        = map(string)
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
