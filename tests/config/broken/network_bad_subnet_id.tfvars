# expect: network.subnets: ids of the form subnet-<hex>, found 'subnet_0123'
network = {
  subnets            = ["subnet_0123", "subnet-0fedcba9876543210"]
  security_group_ids = ["sg-0123456789abcdef0"]
}
