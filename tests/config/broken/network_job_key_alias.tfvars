# expect: network.job_kms_key_arn: empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), found 'alias/jobs'
network = {
  job_kms_key_arn = "alias/jobs"
}
