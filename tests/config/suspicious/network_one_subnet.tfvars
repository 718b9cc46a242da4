# expect: network.subnets: warning: one subnet (subnet-0123456789abcdef0): jobs stop when its Availability Zone is unavailable; give two or more in different Availability Zones
network = {
  subnets            = ["subnet-0123456789abcdef0"]
  security_group_ids = ["sg-0123456789abcdef0"]
}
