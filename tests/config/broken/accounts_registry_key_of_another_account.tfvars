# expect: accounts: registry.kms_key_arn 'arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab' is not in the registry's account 111111111111
accounts = {
  role     = "consumer"
  registry = { environment = "dev", account_id = "111111111111", model_package_group = "abalone-dev-models", bucket = "abalone-dev-data", kms_key_arn = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}
