variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
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

variable "bucket_arn" {
  description = "ARN of the data bucket."
  type        = string
}

variable "outputs_prefix" {
  description = "Key prefix of the pipelines' outputs (the notification function reads reports there)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the bucket, topic, queues, logs, table and Lambda environment."
  type        = string
}

variable "topic_arn" {
  description = "SNS topic both functions publish to."
  type        = string
}

variable "pipeline_arns" {
  description = "SageMaker pipeline ARN per pipeline key (training, training_hpo, inference)."
  type        = map(string)
}

variable "model_package_group" {
  description = "Name of the model package group."
  type        = string
}

variable "events_dead_letter_queue_arn" {
  description = "Queue EventBridge sends undeliverable events to."
  type        = string
}

variable "functions" {
  description = "Per function key: its name, log group, dead-letter queue and the secrets it may read."
  type = map(object({
    function_name         = string
    log_group_arn         = string
    dead_letter_queue_arn = string
    secret_names          = list(string)
  }))

  validation {
    condition     = length(setsubtract(["notification", "approval_trigger"], keys(var.functions))) == 0
    error_message = "functions needs the keys notification and approval_trigger."
  }
}

variable "dedup_table_arn" {
  description = "DynamoDB table of processed EventBridge event ids."
  type        = string
}

variable "active_model_parameter_arn" {
  description = "SSM parameter holding the active model package ARN."
  type        = string
}

variable "execution_role_arn" {
  description = "Existing SageMaker execution role; empty creates <name_prefix>-sagemaker-execution."
  type        = string
}
