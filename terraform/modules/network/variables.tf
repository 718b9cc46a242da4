variable "name_prefix" {
  description = "<project>-<environment>, the start of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region of the stack (endpoint service names)."
  type        = string
}

variable "create_vpc" {
  description = "true: create a VPC, two private subnets in two Availability Zones and the jobs' security group."
  type        = bool
}

variable "create_endpoints" {
  description = "true: create the S3 gateway and the SageMaker API, SSM, STS and CloudWatch Logs interface endpoints in the jobs' VPC."
  type        = bool
}

variable "subnet_ids" {
  description = "Existing subnets of the jobs (create_vpc = false); empty: the jobs run outside a VPC."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Existing security groups of the jobs (create_vpc = false)."
  type        = list(string)
}

variable "job_network_tag" {
  description = "Tag key (contracts.json job_network_tag) marking the subnets and security group created for the jobs; its value is name_prefix."
  type        = string
}
