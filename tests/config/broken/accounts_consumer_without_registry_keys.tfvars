# expect: accounts: role = consumer needs registry.environment, registry.model_package_group, registry.bucket, registry.kms_key_arn
accounts = {
  role     = "consumer"
  registry = { account_id = "111111111111" }
}
