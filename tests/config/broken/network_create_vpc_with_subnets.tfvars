# expect: network: create_vpc = true makes the subnets and the security group: leave subnets and security_group_ids empty
network = {
  create_vpc         = true
  subnets            = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  security_group_ids = ["sg-0123456789abcdef0"]
}
