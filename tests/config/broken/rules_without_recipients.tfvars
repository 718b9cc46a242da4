# expect: notifications: rules are configured but nobody receives them: recipients is empty and slack_webhook_secret_name is unset
notifications = {
  recipients = []
}
