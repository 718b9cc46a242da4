# expect: storage.bucket_name 'abalone-local-data-with-a-rather-long-name-here' with bucket_name_suffix 'region_account' makes 70 characters; S3 allows 63
storage = {
  bucket_name        = "abalone-local-data-with-a-rather-long-name-here"
  bucket_name_suffix = "region_account"
}
