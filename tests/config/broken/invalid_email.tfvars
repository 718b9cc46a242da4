# expect: notifications.recipients: valid email addresses, found 'data-eng-at-example.com'
notifications = {
  recipients = ["ml-team@example.com", "data-eng-at-example.com"]
}
