# expect: approval.gitlab_trigger_enabled: a consumer approves nothing (versions are approved in the registry 'dev'); enable the trigger there
accounts = {
  role     = "consumer"
  registry = { environment = "dev", account_id = "111111111111", model_package_group = "abalone-dev-models", bucket = "abalone-dev-data", kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}
approval = {
  gitlab_trigger_enabled   = true
  gitlab_url               = "https://gitlab.example.com"
  gitlab_project_id        = "1"
  gitlab_token_secret_name = "t"
}
