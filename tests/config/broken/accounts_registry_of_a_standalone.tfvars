# expect: accounts: registry applies only with role = consumer, found role = standalone
accounts = {
  role     = "standalone"
  registry = { environment = "dev", account_id = "111111111111", model_package_group = "abalone-dev-models", bucket = "abalone-dev-data", kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}
