variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "kms_key_arn" {
  description = "Key that encrypts the topic."
  type        = string
}

variable "recipients" {
  description = "Email addresses subscribed to the topic (each confirms the subscription once)."
  type        = list(string)
}
