# expect: notifications.recipients: expected a list, found 'ml-team@example.com'
notifications = {
  recipients = "ml-team@example.com"
}
