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

variable "model_package_group_name" {
  description = "Name of the model package group the training pipelines register into (lower case)."
  type        = string
}

variable "active_model_parameter" {
  description = "SSM parameter of the active model package ARN: its name and its value at creation (contracts.json)."
  type = object({
    name          = string
    initial_value = string
  })
}

variable "execution_role_arn" {
  description = "Existing SageMaker execution role; empty creates <name_prefix>-sagemaker-execution."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the data bucket the jobs read and write."
  type        = string
}

variable "data_kms_key_arns" {
  description = "Keys of the data bucket's objects (the created bucket's key, or an existing bucket's own key); may be empty."
  type        = list(string)
}

variable "outputs_prefix" {
  description = "Key prefix the jobs write under (prefixes.outputs); the only place they may write."
  type        = string
}

variable "jobs_in_vpc" {
  description = "true: the jobs run in a VPC, and the role may manage their network interfaces."
  type        = bool
}

variable "consumer_role_arns" {
  description = "A registry's consumers' execution roles (accounts.role = registry): the group's resource policy lets them describe and list its versions; empty: no policy."
  type        = list(string)
}

variable "registry_source" {
  description = "A consumer's registry (accounts.role = consumer): the ARN pattern of its group's versions, its bucket, the object key patterns of a model version and the bucket's key; null: none."
  type = object({
    model_packages_arn = string
    bucket_arn         = string
    key_patterns       = list(string)
    kms_key_arn        = string
  })
}

variable "trains" {
  description = "false for a consumer (accounts.role): its role may run no training or tuning job and register nothing."
  type        = bool
}
