# expect: network: give both subnets and security_group_ids, or neither (SageMaker's VpcConfig needs both)
network = {
  subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
}
