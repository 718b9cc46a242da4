# expect: storage.bucket_name: a valid S3 bucket name
storage = {
  bucket_name = "Abalone_Data"
}
