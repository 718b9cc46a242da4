# expect: accounts.registry.model_package_group: a model package group name (letters, digits, '-', max 63), found 'abalone_dev_models'
accounts = {
  role     = "consumer"
  registry = { environment = "dev", account_id = "111111111111", model_package_group = "abalone_dev_models", bucket = "abalone-dev-data", kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}
