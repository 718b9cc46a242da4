variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "bucket_name" {
  description = "Name of the data bucket (created, or an existing one)."
  type        = string
}

variable "create_bucket" {
  description = "true: create and fully configure the bucket; false: use an existing bucket of this name."
  type        = bool
}

variable "kms_key_arn" {
  description = "Existing KMS key ARN for the created bucket; empty: the stack's key. Logs, queues, topic and table always use the stack's key."
  type        = string
}

variable "existing_bucket_kms_key_arn" {
  description = "Key of an existing bucket's objects (create_bucket = false); empty: none (SSE-S3)."
  type        = string
}


variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions expire; 0: no lifecycle rule."
  type        = number
}

variable "force_destroy" {
  description = "Whether destroying the stack also deletes every object in a created bucket."
  type        = bool
}

variable "account_id" {
  description = "AWS account the key and bucket live in."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
}

variable "region" {
  description = "AWS region of the key."
  type        = string
}

variable "consumer_reads" {
  description = "A registry's consumers (accounts.role = registry): their execution roles and the object key patterns (a model version's artefact, preprocessing and baselines) they may read with the bucket's key; empty lists: no grant."
  type = object({
    role_arns    = list(string)
    key_patterns = list(string)
  })
}
