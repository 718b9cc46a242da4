# expect: storage: create_bucket = false needs existing_bucket_eventbridge_acknowledged = true (enable EventBridge delivery on the bucket first) and existing_bucket_kms_key_arn set when the bucket uses SSE-KMS
storage = {
  create_bucket = false
}
