# expect: network.security_group_ids: at most 5 (SageMaker VpcConfig.VpcSecurityGroupIds), found 6
network = {
  subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  security_group_ids = ["sg-00000001", "sg-00000002", "sg-00000003", "sg-00000004", "sg-00000005",
  "sg-00000006"]
}
