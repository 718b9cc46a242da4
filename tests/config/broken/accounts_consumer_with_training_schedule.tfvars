# expect: accounts.role = consumer trains nothing (its models come from the registry 'dev'): remove the training schedule schedules[0]
accounts = {
  role     = "consumer"
  registry = { environment = "dev", account_id = "111111111111", model_package_group = "abalone-dev-models", bucket = "abalone-dev-data", kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}
schedules = [{ pipeline = "training", expression = "rate(7 days)" }]
