# expect: approval: gitlab_trigger_enabled = true needs gitlab_url, gitlab_project_id, gitlab_token_secret_name
approval = {
  gitlab_trigger_enabled = true
}
