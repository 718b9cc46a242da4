# expect: network: create_vpc_endpoints = true needs a VPC: set subnets and security_group_ids, or create_vpc = true
network = {
  create_vpc_endpoints = true
}
