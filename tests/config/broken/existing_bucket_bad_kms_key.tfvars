# expect: storage.existing_bucket_kms_key_arn: empty or a KMS key ARN
storage = {
  create_bucket                            = false
  existing_bucket_eventbridge_acknowledged = true
  existing_bucket_kms_key_arn              = "alias/data"
}
