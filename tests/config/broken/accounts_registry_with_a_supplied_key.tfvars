# expect: accounts.role = registry grants its consumers in the bucket policy and the key policy of the stack: needs storage.create_bucket = true and storage.kms_key_arn empty
accounts = {
  role      = "registry"
  consumers = [{ account_id = "222222222222", environment = "staging" }]
}
storage = {
  kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
}
