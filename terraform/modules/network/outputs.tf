output "subnet_ids" {
  description = "Subnets the jobs run in (created or configured); empty: no VPC."
  value       = local.subnet_ids
}

output "security_group_ids" {
  description = "Security groups of the jobs (created or configured)."
  value       = local.security_group_ids
}

output "vpc_id" {
  description = "VPC of the jobs; empty: no VPC."
  value       = local.vpc_id
}
