# Where the SageMaker jobs run: an optional VPC made for them (network.create_vpc) or the subnets the env file names,
# and optionally the endpoints jobs in private subnets need to reach AWS (network.create_vpc_endpoints): ResolveModel
# (SageMaker API, SSM), ModelQualityCheck and the feedback Preprocess (S3), PublishPredictions (S3, EventBridge for
# the results-ready event), every container's credentials (STS) and logs (CloudWatch Logs).
# https://docs.aws.amazon.com/sagemaker/latest/dg/interface-vpc-endpoint.html

locals {
  configured_vpc = length(var.subnet_ids) > 0
  in_vpc         = var.create_vpc || local.configured_vpc
  vpc_id = (var.create_vpc ? aws_vpc.jobs[0].id
  : local.configured_vpc ? data.aws_subnet.configured[var.subnet_ids[0]].vpc_id : "")
  subnet_ids         = var.create_vpc ? aws_subnet.jobs[*].id : var.subnet_ids
  security_group_ids = var.create_vpc ? [aws_security_group.jobs[0].id] : var.security_group_ids
  tags               = { (var.job_network_tag) = var.name_prefix }
  vpc_cidr           = "10.42.0.0/16"
  interface_services = var.create_endpoints ? toset(["sagemaker.api", "ssm", "sts", "logs", "events"]) : toset([])
}

# ------------------------------------------------------------------------------------------- created VPC

# The region's own zones only (<region><letter>): never a Local or Wavelength Zone, whose names are longer.
data "aws_availability_zones" "available" {
  count = var.create_vpc ? 1 : 0
  state = "available"

  filter {
    name   = "zone-name"
    values = [for letter in ["a", "b", "c", "d", "e", "f"] : "${var.region}${letter}"]
  }
}

resource "aws_vpc" "jobs" {
  #checkov:skip=CKV2_AWS_11:The created VPC is the embedded default's and a sandbox's; accounts with a flow-log policy bring their own VPC (network.subnets).
  count = var.create_vpc ? 1 : 0

  cidr_block           = local.vpc_cidr
  enable_dns_support   = true # interface endpoints answer on the services' own names
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name_prefix}-jobs" }
}

# The VPC's default security group admits nothing: the jobs use their own.
resource "aws_default_security_group" "jobs" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.jobs[0].id
}

# Two private subnets (no internet route) in two Availability Zones: a job still starts when one zone cannot
# place it.
resource "aws_subnet" "jobs" {
  count = var.create_vpc ? 2 : 0

  vpc_id            = aws_vpc.jobs[0].id
  cidr_block        = cidrsubnet(local.vpc_cidr, 8, count.index)
  availability_zone = data.aws_availability_zones.available[0].names[count.index]
  tags              = merge(local.tags, { Name = "${var.name_prefix}-jobs-${count.index}" })
}

resource "aws_route_table" "jobs" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.jobs[0].id
  tags   = { Name = "${var.name_prefix}-jobs" }
}

resource "aws_route_table_association" "jobs" {
  count = var.create_vpc ? 2 : 0

  subnet_id      = aws_subnet.jobs[count.index].id
  route_table_id = aws_route_table.jobs[0].id
}

resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:SageMaker attaches this group to the network interfaces of the jobs it starts, not a resource of this stack.
  count = var.create_vpc ? 1 : 0

  name        = "${var.name_prefix}-jobs"
  description = "SageMaker jobs of ${var.name_prefix}"
  vpc_id      = aws_vpc.jobs[0].id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-jobs" })
}

# Between the instances of one job (distributed training or processing), and HTTPS to the endpoints and S3.
resource "aws_vpc_security_group_ingress_rule" "jobs_between_instances" {
  count = var.create_vpc ? 1 : 0

  description                  = "Instances of the same job"
  security_group_id            = aws_security_group.jobs[0].id
  referenced_security_group_id = aws_security_group.jobs[0].id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "jobs_between_instances" {
  count = var.create_vpc ? 1 : 0

  description                  = "Instances of the same job"
  security_group_id            = aws_security_group.jobs[0].id
  referenced_security_group_id = aws_security_group.jobs[0].id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "jobs_https_in_vpc" {
  count = var.create_vpc ? 1 : 0

  description       = "HTTPS to the interface endpoints"
  security_group_id = aws_security_group.jobs[0].id
  cidr_ipv4         = local.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "jobs_https_to_s3" {
  count = var.create_vpc && var.create_endpoints ? 1 : 0

  description       = "HTTPS to S3 through the gateway endpoint"
  security_group_id = aws_security_group.jobs[0].id
  prefix_list_id    = aws_vpc_endpoint.s3[0].prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# ------------------------------------------------------------------------------------------- configured VPC

data "aws_subnet" "configured" {
  for_each = toset(var.create_vpc ? [] : var.subnet_ids)

  id = each.value
}

# Known only once the subnets are looked up: a warning (not an error) when the configured subnets share one zone,
# and when they are not all in one VPC (SageMaker places a job's interfaces in one VPC with its security groups).
check "configured_subnets" {
  assert {
    condition = length(data.aws_subnet.configured) < 2 || length(distinct(
    [for subnet in data.aws_subnet.configured : subnet.availability_zone])) >= 2
    error_message = "network.subnets: all in one Availability Zone; jobs cannot start while it is unavailable. Give subnets in two or more zones."
  }
  assert {
    condition     = length(distinct([for subnet in data.aws_subnet.configured : subnet.vpc_id])) <= 1
    error_message = "network.subnets: the subnets are in different VPCs; a job's subnets and security groups must share one VPC."
  }
}

data "aws_route_table" "configured" {
  for_each = toset(var.create_endpoints && !var.create_vpc ? var.subnet_ids : [])

  subnet_id = each.value
}

# ------------------------------------------------------------------------------------------- endpoints

resource "aws_vpc_endpoint" "s3" {
  count = var.create_endpoints && local.in_vpc ? 1 : 0

  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids = (var.create_vpc ? [aws_route_table.jobs[0].id]
  : distinct([for table in data.aws_route_table.configured : table.id]))
  tags = { Name = "${var.name_prefix}-s3" }
}

resource "aws_security_group" "endpoints" {
  count = var.create_endpoints && local.in_vpc ? 1 : 0

  name        = "${var.name_prefix}-endpoints"
  description = "Interface endpoints of ${var.name_prefix}: HTTPS from the jobs"
  vpc_id      = local.vpc_id
  tags        = { Name = "${var.name_prefix}-endpoints" }
}

# One rule per jobs' group; counted from the configuration (a created group's id is known only after apply).
resource "aws_vpc_security_group_ingress_rule" "endpoints_from_jobs" {
  count = var.create_endpoints && local.in_vpc ? (var.create_vpc ? 1 : length(var.security_group_ids)) : 0

  description                  = "HTTPS from the jobs"
  security_group_id            = aws_security_group.endpoints[0].id
  referenced_security_group_id = local.security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_services

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${var.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = local.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  tags                = { Name = "${var.name_prefix}-${replace(each.value, ".", "-")}" }
}
